"""Reads for training jobs."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.gcp.filtering import field, map_field, parse_filter
from training_app.models import Job


def _state(name: str, op: str, value: str) -> Q:
    """`state` is the workload's, in AI Platform's names (PREPARING is ADMITTED or STARTING)."""
    if value not in Job.State.values or op not in ("=", "!=", ":"):
        raise ApplicationError(
            f"Filter state with = or != and one of {', '.join(Job.State.values)}.", field="filter"
        )
    q = Q(workload__state__in=[w for w, j in Job.STATES.items() if j == value])
    return ~q if op == "!=" else q


JOB_FILTERS = {"state": _state, "labels": map_field("labels"), "jobId": field("job_id")}


def jobs_list(*, project: Project, filter_text: str = "") -> QuerySet[Job]:
    """The project's jobs matching an AI Platform filter such as `state=RUNNING AND labels.team=nlp`."""
    jobs = Job.objects.filter(project=project).select_related("workload", "project")
    return jobs.filter(parse_filter(filter_text, JOB_FILTERS))


def job_get(*, project: Project, job_id: str) -> Job:
    """One job with its workload and queue position; NOT_FOUND in Google's words otherwise."""
    from mlplatform.compute.selectors import with_queue_positions

    job = Job.objects.filter(project=project, job_id=job_id).select_related("workload", "project").first()
    if job is None:
        raise ApplicationError(f"Job '{job_id}' was not found.", code=ErrorCode.NOT_FOUND)
    with_queue_positions([job.workload])
    return job
