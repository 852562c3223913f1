"""Writes for training jobs: create (queue a workload), cancel, and patch labels."""

from __future__ import annotations

import base64
import hashlib
from contextlib import contextmanager

from django.db import IntegrityError, transaction

from mlplatform.compute.backends import default_backend_name
from mlplatform.compute.services import workload_cancel, workload_submit
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.gcp.labels import labels_checked
from training_app.models import JOB_ID, Job
from training_app.specs import job_spec

JOB_FIELDS = {"jobId", "trainingInput", "labels", "etag"}
OUTPUT_ONLY = {"createTime", "startTime", "endTime", "state", "errorMessage", "trainingOutput", "jobPosition"}


def job_create(*, project: Project, body: dict, user=None) -> Job:
    """projects.jobs.create: check the body, turn trainingInput into a workload and queue it."""
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be a Job object.", field="job")
    if "predictionInput" in body:
        raise ApplicationError(
            "Batch prediction jobs are not supported yet; submit training jobs here.", field="predictionInput"
        )
    unknown = sorted(set(body) - JOB_FIELDS - OUTPUT_ONLY)
    if unknown:
        raise ApplicationError(f"'{unknown[0]}' is not a field of Job.", field=unknown[0])
    job_id = body.get("jobId")
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise ApplicationError(
            "must start with a letter and contain only letters, digits and underscores (at most 128).",
            field="jobId",
        )
    training_input = body.get("trainingInput")
    if not isinstance(training_input, dict):
        raise ApplicationError("is required: what to train and on which machines.", field="trainingInput")
    labels = labels_checked(body.get("labels") or {})
    if Job.objects.filter(project=project, job_id=job_id).exists():
        raise ApplicationError(
            f"Job '{job_id}' already exists.", code=ErrorCode.ALREADY_EXISTS, field="jobId"
        )
    plan = job_spec(
        project=project,
        job_id=job_id,
        training_input=training_input,
        backend=default_backend_name(),
        labels=labels,
    )
    try:
        with transaction.atomic(), _fields_under("trainingInput"):
            workload = workload_submit(
                project=project,
                spec=plan.spec,
                owner=user,
                priority=plan.priority,
                max_wait_seconds=plan.max_wait_seconds,
            )
            return Job.objects.create(
                project=project,
                job_id=job_id,
                workload=workload,
                labels=labels,
                training_input=training_input,
                created_by=user,
            )
    except IntegrityError:  # the same jobId created at the same moment
        raise _exists(job_id) from None


def job_cancel(*, job: Job, user=None) -> Job:
    """projects.jobs.cancel: a queued job ends at once; a running one goes through CANCELLING."""
    if job.workload.is_finished:
        raise ApplicationError(
            f"Job '{job.job_id}' already ended ({job.state}); there is nothing to cancel.",
            code=ErrorCode.FAILED_PRECONDITION,
        )
    job.workload = workload_cancel(workload=job.workload, actor=user)
    return job


def job_patch(*, job: Job, body: dict, update_mask: str) -> Job:
    """projects.jobs.patch: AI Platform lets only `labels` change; `etag`, when sent, must match."""
    paths = [path.strip() for path in (update_mask or "").split(",") if path.strip()]
    if not paths:
        raise ApplicationError("Name the fields to change: updateMask=labels.", field="updateMask")
    for path in paths:
        if path != "labels":
            raise ApplicationError(f"'{path}' cannot be changed; only labels can.", field="updateMask")
    if body.get("etag") and body["etag"] != job_etag(job):
        raise ApplicationError(
            "The job changed since it was read (etag mismatch); read it again.", code=ErrorCode.ABORTED
        )
    job.labels = labels_checked(body.get("labels") or {})
    job.save(update_fields=["labels", "update_time"])
    return job


@contextmanager
def _fields_under(prefix: str):
    """The workload's fields (its resources) are the job's trainingInput."""
    try:
        yield
    except ApplicationError as exc:
        if exc.field and not exc.field.startswith(prefix):
            exc.field = prefix
        raise


def _exists(job_id: str) -> ApplicationError:
    return ApplicationError(f"Job '{job_id}' already exists.", code=ErrorCode.ALREADY_EXISTS, field="jobId")


def job_etag(job: Job) -> str:
    """Changes whenever the job or its workload does: read-modify-write clients send it back."""
    stamp = max(job.update_time, job.workload.updated_at).isoformat()
    return base64.b64encode(hashlib.sha256(f"{job.pk}:{stamp}".encode()).digest()[:12]).decode()
