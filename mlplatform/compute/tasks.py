"""Celery tasks: thin wrappers that take primary keys and call the services. Each is safe to run
twice: the services re-read the row under a lock and do nothing when the work is done."""

from __future__ import annotations

import uuid

from celery import shared_task

from mlplatform.compute import services
from mlplatform.compute.backends import get_backend
from mlplatform.compute.backends.base import BackendError, WorkloadRef

START_RETRIES = 5


@shared_task(name="mlplatform.compute.tasks.admit_workloads")
def admit_workloads() -> dict:
    result = services.admission_pass()
    return {"admitted": len(result.admitted), "pending": result.pending, "failed": len(result.failed)}


@shared_task(bind=True, name="mlplatform.compute.tasks.start_workload", max_retries=START_RETRIES)
def start_workload(self, workload_id: str) -> None:
    try:
        services.workload_start(workload_id=uuid.UUID(workload_id))
    except BackendError as exc:
        if self.request.retries >= START_RETRIES:
            services.workload_evict(workload_id=uuid.UUID(workload_id), reason=f"could not start: {exc}")
            return
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


@shared_task(bind=True, name="mlplatform.compute.tasks.stop_workload", max_retries=START_RETRIES)
def stop_workload(self, workload_id: str) -> None:
    try:
        services.workload_stop(workload_id=uuid.UUID(workload_id))
    except BackendError as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


@shared_task(name="mlplatform.compute.tasks.sync_workloads")
def sync_workloads() -> int:
    return services.workloads_sync()


@shared_task(name="mlplatform.compute.tasks.collect_garbage")
def collect_garbage() -> int:
    return len(services.workloads_collect_garbage())


@shared_task(name="mlplatform.compute.tasks.sample_usage")
def sample_usage() -> int:
    """Each project's queue and GPUs in use for this minute (the dashboard's charts); run twice in a
    minute, the second replaces the first's samples."""
    return services.usage_sample()


@shared_task(
    name="mlplatform.compute.tasks.remove_run",
    autoretry_for=(BackendError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=20,
)
def remove_run(backend: str, ref: dict) -> None:
    """Take back what one run of a workload has on a backend (an evicted run, a start that lost a
    race): idempotent, retried until the backend confirms; the workload's row is not involved."""
    get_backend(backend).cancel(WorkloadRef(**ref))
