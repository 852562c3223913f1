"""Celery tasks: thin wrappers over the services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from mlplatform.compute.values import BackendError
from notebooks_app import culling, services

POLL_SECONDS = 2
RETRIES = 300  # ten minutes of waiting for the workload to stop; asking again starts a new wait


class StillStopping(Exception):
    """The notebook's workload has not ended yet."""


@shared_task(bind=True, name="notebooks_app.tasks.finish_delete", max_retries=RETRIES)
def finish_delete(self, notebook_id: int) -> None:
    try:
        done = services.notebook_finish_delete(notebook_id=notebook_id)
    except BackendError as exc:
        if not exc.temporary:
            raise
        raise self.retry(exc=exc, countdown=POLL_SECONDS) from exc
    if not done:
        raise self.retry(exc=StillStopping(notebook_id), countdown=POLL_SECONDS)


@shared_task(bind=True, name="notebooks_app.tasks.restart", max_retries=RETRIES)
def restart(self, notebook_id: int) -> None:
    if not services.notebook_restart(notebook_id=notebook_id):
        raise self.retry(exc=StillStopping(notebook_id), countdown=POLL_SECONDS)


@shared_task(name="notebooks_app.tasks.cull_idle_notebooks")
def cull_idle_notebooks() -> dict:
    """Stop notebooks idle past their project's policy (beat runs it every minute)."""
    result = culling.cull_pass()
    return {"checked": result.checked, "unreachable": result.unreachable, "stopped": result.stopped}
