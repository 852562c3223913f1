"""Writes for jobs of every kind: create (queue the workload its kind builds), cancel, and patch
labels; and the plan of a training job (the trainingInput kind's builder)."""

from __future__ import annotations

import base64
import hashlib
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from mlplatform.compute.selectors import default_backend_runs_images
from mlplatform.compute.services import workload_cancel, workload_group_create, workload_submit
from mlplatform.core.errors import ApplicationError, ErrorCode, Refusals
from mlplatform.core.models import Project
from mlplatform.gcp import proto
from mlplatform.gcp.labels import labels_checked
from mlplatform.quotas.selectors import accelerator_flavors, machine_types
from mlplatform.storage.selectors import connection_for_uri, object_stat
from mlplatform.storage.uris import parse_uri
from training_app.hyperparameters import HyperparameterSpec
from training_app.inputs import training_input_from_json
from training_app.jobs import INPUTS, OUTPUTS, JobPlan, workload_name
from training_app.jobs import job_input as job_input_of
from training_app.models import JOB_ID, Job
from training_app.selectors import job_tuning_spec, runtime_version_for
from training_app.specs import Catalog, TrialRun, job_plan

JOB_FIELDS = {"jobId", "labels", "etag", *INPUTS}
OUTPUT_ONLY = {"createTime", "startTime", "endTime", "state", "errorMessage", "jobPosition", *OUTPUTS}


def job_create(*, project: Project, body: dict, user=None) -> Job:
    """projects.jobs.create: check the body, have the job's kind turn its input into a workload,
    and queue it. Raises ApplicationError naming the field; nothing is written then."""
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be a Job object.", field="job")
    proto.check_fields(body, JOB_FIELDS | OUTPUT_ONLY, type_name="Job")
    refusals = Refusals()  # the id, the labels and the input are each checked, to report them all
    job_id = body.get("jobId")
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        refusals.refuse(
            "must start with a letter and contain only letters, digits and underscores (at most 128).",
            field="jobId",
        )
    elif Job.objects.filter(project=project, job_id=job_id).exists():
        refusals.errors.append(_exists(job_id))
    kind, job_input = job_input_of(body)
    labels = refusals.check(labels_checked, body.get("labels") or {}, default={})
    plan = refusals.check(
        kind.plan,
        project=project,
        job_id=job_id if isinstance(job_id, str) else "",
        input=job_input,
        labels=labels,
    )
    refusals.raise_any()
    try:
        with transaction.atomic(), _fields_under(kind.input_field):
            if plan.group:
                workload = workload_group_create(
                    project=project, name=workload_name(job_id), owner=user, reason="its first trials queue"
                )
            else:
                workload = workload_submit(
                    project=project,
                    spec=plan.spec,
                    owner=user,
                    priority=plan.priority,
                    max_wait_seconds=plan.max_wait_seconds,
                )
            job = Job.objects.create(
                project=project,
                job_id=job_id,
                workload=workload,
                labels=labels,
                kind=kind.input_field,
                input=job_input,
                created_by=user,
            )
            if plan.group:  # its first members now: what cannot be queued refuses the job
                kind.advance(job)
            return job
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


def training_plan(
    *, project: Project, job_id: str, input: dict, labels: dict, trial: TrialRun | None = None
) -> JobPlan:
    """What a job's trainingInput asks for (or one trial of a tuning job): parsed, checked against
    what the project reaches, the catalog and the default backend, then built. Raises
    ApplicationError naming the field."""
    request = training_input_from_json(input)
    refusals = Refusals()
    if request.package is None and not default_backend_runs_images():
        refusals.refuse(
            "The local backend runs Python packages; custom containers need the Kubernetes backend.",
            field="trainingInput.masterConfig.imageUri",
        )
    packages = {
        f"trainingInput.packageUris[{i}]" for i in range(len(request.package.uris if request.package else ()))
    }
    for field, uri in request.uris:
        with refusals.noted():
            _check_reachable(project, uri, field)
            if field in packages and trial is None:  # a trial's runner reports one removed since
                _check_package(project, uri, field)
    if request.hyperparameters and request.hyperparameters.resume_previous_job_id and trial is None:
        refusals.check(_check_resumable, project, request.hyperparameters)
    catalog = Catalog(
        machines=machine_types(),
        accelerators=accelerator_flavors(),
        venv_cache=str(Path(settings.DATA_DIR) / "local" / "venvs"),
    )
    plan = None
    if request.package is not None:
        runtime = refusals.check(
            runtime_version_for,
            runtime_version=request.runtime_version,
            python_version=request.python_version,
        )
        if runtime is not None:
            catalog = replace(catalog, runtime_image=runtime.image, runtime_version=runtime.runtime_version)
    if request.package is None or runtime is not None:  # the machines are checked while building
        with refusals.noted():
            plan = job_plan(
                request, job_id=job_id, project=project.slug, labels=labels, catalog=catalog, trial=trial
            )
    refusals.raise_any()
    return plan


def _check_reachable(project: Project, uri: str, field: str) -> None:
    """AI Platform answers a package it cannot read with INVALID_ARGUMENT, so the storage 403
    (which names the bucket) becomes a 400 on the field here."""
    try:
        connection_for_uri(project=project, uri=parse_uri(uri, field=field))
    except ApplicationError as exc:
        raise ApplicationError(exc.message, field=field) from exc


def _check_resumable(project: Project, spec: HyperparameterSpec) -> None:
    """resumePreviousJobId names a tuning job of this project that searched the same parameters."""
    field = "trainingInput.hyperparameters.resumePreviousJobId"
    earlier = Job.objects.filter(project=project, job_id=spec.resume_previous_job_id).first()
    earlier_spec = job_tuning_spec(earlier) if earlier else None
    if earlier_spec is None:
        raise ApplicationError(
            f"'{spec.resume_previous_job_id}' is not a tuning job of this project.", field=field
        )
    if [(p.name, p.type) for p in earlier_spec.params] != [(p.name, p.type) for p in spec.params]:
        raise ApplicationError(
            f"'{spec.resume_previous_job_id}' searched other parameters: a resumed study keeps their names "
            "and types.",
            field=field,
        )


def _check_package(project: Project, uri: str, field: str) -> None:
    """A package the project's store says is not there is refused now, naming the URI as given
    (never where a store keeps it). One the store cannot answer for now (access refused,
    unreachable) is accepted: the runner's download names the URI if it fails later."""
    try:
        object_stat(project=project, uri=parse_uri(uri, field=field))
    except ApplicationError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            message = f"{uri} was not found: upload the trainer package there, or name the one you uploaded."
            raise ApplicationError(message, field=field) from exc


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
