"""AI Platform jobs (`ml v1` `projects.jobs`), of every kind (training_app.jobs), and runtime versions."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from mlplatform.compute.models import Workload
from mlplatform.core.models import Project
from training_app.jobs import job_kind

JOB_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}\Z")


def validate_job_id(value: str) -> None:
    if not JOB_ID.match(value):
        raise ValidationError(
            "must start with a letter and contain only letters, digits and underscores (at most 128)."
        )


class RuntimeVersion(models.Model):
    """AI Platform's `runtimeVersion` and `pythonVersion`, and the base image a job then runs on
    (on Kubernetes; the local backend runs the console's own Python)."""

    runtime_version = models.CharField(max_length=16, help_text="e.g. 2.11; empty: any")
    python_version = models.CharField(max_length=8, help_text="e.g. 3.7; empty: any")
    image = models.CharField(max_length=300)
    description = models.CharField(max_length=200, blank=True)
    is_default = models.BooleanField(default=False, help_text="Used when a job names no runtime version.")

    class Meta:
        ordering = ["-runtime_version", "-python_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["runtime_version", "python_version"], name="runtime_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"runtime {self.runtime_version or 'any'} / Python {self.python_version or 'any'}"


class Job(models.Model):
    """A job of any kind (training, batch prediction). Its state, times and error come from its
    workload, which is what queues and runs; the job keeps what AI Platform's API says about it."""

    class State(models.TextChoices):
        QUEUED = "QUEUED"
        PREPARING = "PREPARING"
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        CANCELLING = "CANCELLING"
        CANCELLED = "CANCELLED"

    # Workload states as AI Platform names them.
    STATES = {
        "QUEUED": State.QUEUED,
        "ADMITTED": State.PREPARING,
        "STARTING": State.PREPARING,
        "RUNNING": State.RUNNING,
        "SUCCEEDED": State.SUCCEEDED,
        "FAILED": State.FAILED,
        "CANCELLING": State.CANCELLING,
        "CANCELLED": State.CANCELLED,
    }

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    job_id = models.CharField(max_length=128, validators=[validate_job_id])
    workload = models.OneToOneField(Workload, on_delete=models.PROTECT, related_name="job")
    labels = models.JSONField(default=dict, blank=True)
    kind = models.CharField(
        max_length=32,
        default="trainingInput",
        help_text="The Job field of its input (trainingInput, ...).",
    )
    input = models.JSONField(default=dict, help_text="That field, as the job was created with it.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    create_time = models.DateTimeField(auto_now_add=True, db_index=True)
    update_time = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-create_time", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "job_id"], name="job_id_unique")]

    def __str__(self) -> str:
        return f"{self.project}/{self.job_id}"

    def get_absolute_url(self) -> str:
        return reverse(job_kind(self.kind).page, kwargs={"project": self.project.slug, "job_id": self.job_id})

    @property
    def state(self) -> str:
        return self.STATES[self.workload.state]

    @property
    def error_message(self) -> str:
        return self.workload.reason if self.workload.state == Workload.State.FAILED else ""

    @property
    def start_time(self):
        return self.workload.started_at

    @property
    def end_time(self):
        return self.workload.finished_at


class Trial(models.Model):
    """One trial of a tuning job: the values its search suggested, persisted with the workload
    that runs them in one transaction, and what came of it. The job's study is rebuilt from
    these rows on every pass (training_app.tuning), so a restarted worker loses no trial."""

    class State(models.TextChoices):  # training_app.tuning.STATES
        ACTIVE = "ACTIVE"  # its workload is queued or running
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        STOPPED_EARLY = "STOPPED_EARLY"
        CANCELLED = "CANCELLED"  # with its job

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField(help_text="From 0; the trial id AI Platform shows is number + 1.")
    workload = models.OneToOneField(Workload, on_delete=models.PROTECT, related_name="trial")
    params = models.JSONField(help_text="The sampler's values (a DISCRETE parameter's index).")
    system_attrs = models.JSONField(default=dict, blank=True, help_text="The sampler's own (a grid id).")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    objective = models.FloatField(null=True, blank=True, help_text="Its final metric, once it succeeded.")
    intermediate = models.JSONField(
        default=dict, blank=True, help_text="Every metric it reported: {training step: value}."
    )
    stopping = models.BooleanField(default=False, help_text="Early stopping asked its workload to stop.")
    message = models.CharField(max_length=500, blank=True, help_text="Why it failed or stopped.")

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="trial_number_unique")]

    def __str__(self) -> str:
        return f"{self.job} trial {self.trial_id}"

    @property
    def trial_id(self) -> str:
        return str(self.number + 1)
