"""MPI jobs: a launcher and N workers, queued and admitted as one workload (a gang)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from mlplatform.compute.models import Workload
from mlplatform.core.models import Project
from mlplatform.core.validators import validate_dns_label


class DistributedJob(models.Model):
    """What the user asked for (`input`, as the API took it); its state, times and error are its
    workload's."""

    class State(models.TextChoices):
        QUEUED = "QUEUED"
        STARTING = "STARTING"
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        CANCELLING = "CANCELLING"
        CANCELLED = "CANCELLED"

    STATES = {
        "QUEUED": State.QUEUED,
        "ADMITTED": State.STARTING,
        "STARTING": State.STARTING,
        "RUNNING": State.RUNNING,
        "SUCCEEDED": State.SUCCEEDED,
        "FAILED": State.FAILED,
        "CANCELLING": State.CANCELLING,
        "CANCELLED": State.CANCELLED,
    }

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="distributed_jobs")
    name = models.CharField(max_length=40, validators=[validate_dns_label])
    workload = models.OneToOneField(Workload, on_delete=models.PROTECT, related_name="distributed_job")
    input = models.JSONField(default=dict, help_text="The job as it was created.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="distributed_job_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"

    def get_absolute_url(self) -> str:
        return reverse("distributed-job", kwargs={"project": self.project.slug, "name": self.name})

    @property
    def state(self) -> str:
        return self.STATES[self.workload.state]

    @property
    def error_message(self) -> str:
        return self.workload.reason if self.workload.state == Workload.State.FAILED else ""
