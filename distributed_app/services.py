"""Writes for MPI jobs: create (parse, build the gang's spec, queue it as one workload) and cancel."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from distributed_app.inputs import MpiImplementation, request_from_json
from distributed_app.models import DistributedJob
from distributed_app.selectors import flavor_shape
from distributed_app.specs import distributed_spec
from mlplatform.compute.selectors import default_backend_runs_images
from mlplatform.compute.services import workload_cancel, workload_submit
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project


def distributed_job_create(*, project: Project, body: dict, user=None) -> DistributedJob:
    """Queue an MPI job: its launcher and workers are one workload, admitted all at once. Raises
    ApplicationError naming the field; nothing is written then."""
    request = request_from_json(body)
    if default_backend_runs_images():
        if not request.image:
            raise ApplicationError(
                "is required: the image every replica runs, with an MPI in it", field="image"
            )
    elif request.mpi_implementation != MpiImplementation.OPENMPI:
        raise ApplicationError(
            "the local backend runs this machine's OpenMPI; Intel MPI and MPICH need the Kubernetes backend",
            field="mpi_implementation",
        )
    spec = distributed_spec(request, flavor=flavor_shape(name=request.flavor))
    if DistributedJob.objects.filter(project=project, name=request.name).exists():
        raise _exists(request.name)
    try:
        with transaction.atomic():
            workload = workload_submit(project=project, spec=spec, owner=user)
            return DistributedJob.objects.create(
                project=project, name=request.name, workload=workload, input=body, created_by=user
            )
    except IntegrityError:  # the same name created at the same moment
        raise _exists(request.name) from None


def distributed_job_cancel(*, job: DistributedJob, user=None) -> DistributedJob:
    """A queued job ends at once; a running one goes through CANCELLING."""
    if job.workload.is_finished:
        raise ApplicationError(
            f"MPI job '{job.name}' already ended ({job.state}); there is nothing to cancel.",
            code=ErrorCode.FAILED_PRECONDITION,
        )
    job.workload = workload_cancel(workload=job.workload, actor=user)
    return job


def _exists(name: str) -> ApplicationError:
    return ApplicationError(f"MPI job '{name}' already exists.", code=ErrorCode.ALREADY_EXISTS, field="name")
