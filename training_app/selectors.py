"""Reads for training jobs."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from mlplatform.compute.selectors import with_queue_positions
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.gcp.filtering import field, map_field, parse_filter
from training_app.models import Job, RuntimeVersion


def _state(name: str, op: str, value: str) -> Q:
    """`state` is the workload's, in AI Platform's names (PREPARING is ADMITTED or STARTING)."""
    if value not in Job.State.values or op not in ("=", "!=", ":"):
        raise ApplicationError(
            f"Filter state with = or != and one of {', '.join(Job.State.values)}.", field="filter"
        )
    q = Q(workload__state__in=[w for w, j in Job.STATES.items() if j == value])
    return ~q if op == "!=" else q


JOB_FILTERS = {"state": _state, "labels": map_field("labels"), "jobId": field("job_id")}


def jobs_list(*, project: Project, filter_text: str = "", kind: str | None = None) -> QuerySet[Job]:
    """The project's jobs (of one `kind`, e.g. trainingInput, or all) matching an AI Platform
    filter such as `state=RUNNING AND labels.team=nlp`."""
    jobs = Job.objects.filter(project=project).select_related("workload", "project")
    if kind is not None:
        jobs = jobs.filter(kind=kind)
    return jobs.filter(parse_filter(filter_text, JOB_FILTERS))


def job_get(*, project: Project, job_id: str) -> Job:
    """One job with its workload and queue position; NOT_FOUND in Google's words otherwise."""
    job = Job.objects.filter(project=project, job_id=job_id).select_related("workload", "project").first()
    if job is None:
        raise ApplicationError(f"Job '{job_id}' was not found.", code=ErrorCode.NOT_FOUND)
    with_queue_positions([job.workload])
    return job


def runtime_version_for(*, runtime_version: str, python_version: str) -> RuntimeVersion:
    """The exact runtimeVersion/pythonVersion pair, else the runtime's any-Python row, else (no
    pythonVersion) its newest Python; with no runtimeVersion, the default row. Raises
    ApplicationError naming trainingInput.runtimeVersion or .pythonVersion when none is offered."""
    rows = RuntimeVersion.objects.filter(runtime_version=runtime_version)
    if runtime_version and not rows.exists():
        offered = sorted(
            {row for row in RuntimeVersion.objects.values_list("runtime_version", flat=True) if row},
            key=version_key,
        )
        raise ApplicationError(
            f"Runtime version '{runtime_version}' is not offered here ({', '.join(offered)}).",
            field="trainingInput.runtimeVersion",
        )
    row = rows.filter(python_version=python_version).first() or rows.filter(python_version="").first()
    if row is None and not python_version:
        row = max(rows, key=lambda r: version_key(r.python_version), default=None)
    if row is None and not runtime_version:
        row = RuntimeVersion.objects.filter(is_default=True).first()
    if row is None:
        raise ApplicationError(
            f"Python {python_version} is not offered with runtime version '{runtime_version or 'default'}'.",
            field="trainingInput.pythonVersion",
        )
    return row


def runtime_versions() -> list[RuntimeVersion]:
    """The offered runtimes for a form: the default first, then newest first by version number
    (2.11 before 2.8), each runtime's newest Python first."""
    rows = sorted(
        RuntimeVersion.objects.all(),
        key=lambda r: (version_key(r.runtime_version), version_key(r.python_version)),
    )
    return sorted(reversed(rows), key=lambda r: not r.is_default)


def version_key(version: str) -> tuple[int, ...]:
    """A dotted version as numbers, to sort as versions: 2.8 < 2.11."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))
