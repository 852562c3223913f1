"""Celery tasks: thin wrappers over the services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from prediction_app import services


@shared_task(name="prediction_app.tasks.sync_versions")
def sync_versions() -> int:
    """Versions follow their workloads: READY, FAILED with the loader's error, retired, deleted
    (beat runs it with compute's sync)."""
    return services.versions_sync()
