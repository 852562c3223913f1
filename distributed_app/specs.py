"""An MPI job's request plus catalog values to a WorkloadSpec: one workload, a launcher and N
workers, so admission counts and admits the whole gang at once. Pure: no queries, no settings.

The local backend runs the launcher's runtime (runtime/launcher.py: mpirun over a loopback
hostfile) and a worker runtime per worker that holds its share while the ranks run; an image
backend runs the image, with the gang's shape from `WorkloadSpec.mpi`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from distributed_app.inputs import DistributedJobRequest
from distributed_app.runtime import launcher, worker
from mlplatform.compute.spec import (
    FailurePolicy,
    LocalRun,
    Mpi,
    ReplicaGroup,
    Resources,
    WorkloadKind,
    WorkloadSpec,
)
from mlplatform.core.errors import ApplicationError

LAUNCHER, WORKER = "launcher", "worker"
MPI_JOB_LABEL = "MLPLATFORM_MPI_JOB"


@dataclass(frozen=True)
class FlavorShape:
    """What one node of a flavor offers: slots are its GPUs (its vCPUs for a CPU-only flavor)."""

    name: str
    is_gpu: bool
    node_slots: int
    cpu_per_gpu: Decimal = Decimal(8)
    memory_gib_per_gpu: Decimal = Decimal(32)


def distributed_spec(request: DistributedJobRequest, *, flavor: FlavorShape | None) -> WorkloadSpec:
    """The gang's spec. Raises ApplicationError naming the field (flavor, slots_per_worker)."""
    if flavor is None:
        raise ApplicationError(f"'{request.flavor}' is not a flavor of this platform", field="flavor")
    if request.slots_per_worker > flavor.node_slots:
        what = "GPUs" if flavor.is_gpu else "vCPUs"
        raise ApplicationError(
            f"{request.slots_per_worker} slots do not fit on one {flavor.name} node, which has "
            f"{flavor.node_slots} {what}",
            field="slots_per_worker",
        )
    slots = request.slots_per_worker
    if flavor.is_gpu:
        resources = Resources(
            flavor=flavor.name,
            gpus=slots,
            cpu=flavor.cpu_per_gpu * slots,
            memory_gib=flavor.memory_gib_per_gpu * slots,
        )
    else:
        resources = Resources(flavor=flavor.name, cpu=Decimal(slots), memory_gib=Decimal(2 * slots))
    env = {MPI_JOB_LABEL: request.name, **request.env}
    workers = request.workers
    return WorkloadSpec(
        name=f"mpi-{request.name}",
        kind=WorkloadKind.BATCH,
        groups=(
            ReplicaGroup(
                role=LAUNCHER,
                count=1,
                image=request.image or "local",
                command=request.command,
                env=env,
                resources=Resources(
                    flavor=flavor.name, cpu=Decimal(1), memory_gib=Decimal(1)
                ),  # no GPUs; one quota
                local=LocalRun(
                    command=(sys.executable, _path(launcher)),
                    args=("--workers", str(workers), "--slots", str(slots), "--", *request.command),
                ),
            ),
            ReplicaGroup(
                role=WORKER,
                count=workers,
                image=request.image or "local",
                env=env,
                resources=resources,
                local=LocalRun(command=(sys.executable, _path(worker))),
            ),
        ),
        failure_policy=FailurePolicy(
            backoff_limit=request.backoff_limit,
            max_run_seconds=request.max_run_seconds,
            ttl_after_finished_seconds=request.ttl_seconds_after_finished,
        ),
        mpi=Mpi(
            implementation=request.mpi_implementation.value, slots=slots, launcher=LAUNCHER, worker=WORKER
        ),
    )


def _path(module) -> str:
    return str(Path(module.__file__).resolve())
