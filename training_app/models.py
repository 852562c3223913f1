"""AI Platform training jobs (`ml v1` `projects.jobs`)."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from mlplatform.core.models import Project

JOB_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


def validate_job_id(value: str) -> None:
    if not JOB_ID.match(value):
        raise ValidationError(
            "must start with a letter and contain only letters, digits and underscores (at most 128)."
        )


class Job(models.Model):
    class State(models.TextChoices):
        QUEUED = "QUEUED"
        PREPARING = "PREPARING"
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        CANCELLING = "CANCELLING"
        CANCELLED = "CANCELLED"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    job_id = models.CharField(max_length=128, validators=[validate_job_id])
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    labels = models.JSONField(default=dict, blank=True)
    training_input = models.JSONField(default=dict)
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    create_time = models.DateTimeField(auto_now_add=True, db_index=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    update_time = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-create_time", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "job_id"], name="job_id_unique")]

    def __str__(self) -> str:
        return f"{self.project}/{self.job_id}"
