"""Reads for MPI jobs: who sees which, the catalog's node shapes, and what the page shows (each
replica's log and the hostfile the launcher used)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet

from distributed_app.models import DistributedJob
from distributed_app.runtime.launcher import HOSTFILE_BEGIN, HOSTFILE_END
from distributed_app.specs import LAUNCHER, WORKER, FlavorShape
from mlplatform.compute.selectors import workload_log_tail
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.quotas.models import Flavor
from mlplatform.quotas.selectors import machine_types


def distributed_jobs_list(*, project: Project) -> QuerySet[DistributedJob]:
    return DistributedJob.objects.filter(project=project).select_related("workload", "project")


def distributed_job_get(*, project: Project, name: str) -> DistributedJob:
    """Raises ApplicationError NOT_FOUND when the project has no such job."""
    job = distributed_jobs_list(project=project).filter(name=name).first()
    if job is None:
        raise ApplicationError(f"MPI job '{name}' not found.", code=ErrorCode.NOT_FOUND, field="name")
    return job


def flavor_shape(*, name: str) -> FlavorShape | None:
    """The largest node of the flavor in the machine catalog: how many slots one worker may have."""
    flavor = Flavor.objects.filter(name=name).first()
    if flavor is None:
        return None
    machines = [machine for machine in machine_types().values() if machine.flavor == name]
    if flavor.is_gpu:
        node_slots = max((machine.gpus for machine in machines), default=0)
    else:
        node_slots = int(max((machine.vcpus for machine in machines), default=Decimal(0)))
    return FlavorShape(
        name=name,
        is_gpu=flavor.is_gpu,
        node_slots=node_slots,
        cpu_per_gpu=flavor.cpu_per_gpu,
        memory_gib_per_gpu=flavor.memory_gib_per_gpu,
    )


def replica_logs(job: DistributedJob, lines: int = 200) -> list[tuple[str, list[str] | None]]:
    """(replica, its last lines) for the launcher and each worker; None where none started yet."""
    workers = next(g["count"] for g in job.workload.spec["groups"] if g["role"] == WORKER)
    replicas = [(LAUNCHER, 0), *((WORKER, index) for index in range(workers))]
    return [
        (f"{role}-{index}", workload_log_tail(workload=job.workload, role=role, index=index, lines=lines))
        for role, index in replicas
    ]


def hostfile_used(launcher_log: list[str] | None) -> str | None:
    """The hostfile the launcher printed before it ran mpirun; None before it did."""
    lines = [line.rstrip("\n") for line in launcher_log or ()]
    if HOSTFILE_BEGIN not in lines:
        return None
    start = lines.index(HOSTFILE_BEGIN) + 1
    end = lines.index(HOSTFILE_END, start) if HOSTFILE_END in lines[start:] else len(lines)
    return "\n".join(lines[start:end]) + "\n"
