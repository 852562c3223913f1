"""Reads for training jobs."""

from __future__ import annotations

from django.db.models import QuerySet

from mlplatform.core.models import Project
from mlplatform.gcp.filtering import field, map_field, parse_filter
from training_app.models import Job


def _state(value: str) -> str:
    if value not in Job.State.values:
        raise ValueError(f"states are {', '.join(Job.State.values)}")
    return value


JOB_FILTERS = {"state": field("state", cast=_state), "labels": map_field("labels"), "jobId": field("job_id")}


def jobs_list(*, project: Project, filter_text: str = "") -> QuerySet[Job]:
    """The project's jobs matching an AI Platform filter such as `state=RUNNING AND labels.team=nlp`."""
    return Job.objects.filter(project=project).filter(parse_filter(filter_text, JOB_FILTERS))
