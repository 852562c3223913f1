"""Celery tasks: thin wrappers over the services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from training_app import studies


@shared_task(name="training_app.tasks.advance_studies")
def advance_studies() -> int:
    """One pass over every tuning job whose study is not over (beat runs it with compute's sync);
    how many were looked at."""
    return studies.studies_advance()
