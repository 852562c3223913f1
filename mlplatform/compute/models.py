"""Workloads: the unit that is queued, admitted against quota, run on a backend and accounted for."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse

from mlplatform.compute.backends.base import WorkloadRef
from mlplatform.core.models import Project
from mlplatform.quotas.amounts import Amounts
from mlplatform.quotas.models import Flavor


class Workload(models.Model):
    class Kind(models.TextChoices):
        BATCH = "batch"
        SERVICE = "service"
        NOTEBOOK = "notebook"
        # Holds other workloads (a tuning job's trials: its `members`), each queued and run on its
        # own. A group asks for nothing, is never admitted or run, and its owner's service sets
        # its state from its members'; cancelling it cancels them.
        GROUP = "group"

    class State(models.TextChoices):
        QUEUED = "QUEUED"
        ADMITTED = "ADMITTED"
        STARTING = "STARTING"
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        CANCELLING = "CANCELLING"
        CANCELLED = "CANCELLED"

    # States whose workloads hold their quota; the others hold none.
    HOLDING = (State.ADMITTED, State.STARTING, State.RUNNING, State.CANCELLING)
    ON_BACKEND = (State.STARTING, State.RUNNING, State.CANCELLING)
    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workloads")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=63, help_text="The spec's name: a DNS-1123 label.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="workloads"
    )
    group = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="members",
        help_text="The group workload this one is a member of (a tuning job's trial).",
    )  # fmt: skip
    priority = models.IntegerField(default=0)
    spec = models.JSONField(help_text="The WorkloadSpec (mlplatform.compute.spec) as JSON.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    reason = models.CharField(
        max_length=500, blank=True, help_text="Why it waits, or why it ended, in one line."
    )
    max_wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    backend = models.CharField(max_length=16, blank=True, help_text="Where it runs: local or kubernetes.")
    replicas = models.JSONField(default=list, blank=True, help_text="Per-replica states from the backend.")
    evictions = models.PositiveIntegerField(default=0)
    gpu_hours = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal(0))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    queue_position: int | None = None  # set by selectors that read the queue; not stored

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "-priority", "created_at"], name="workload_queue"),
            models.Index(fields=["project", "state"], name="workload_project_state"),
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"

    def get_absolute_url(self) -> str:
        return reverse("workload-detail", kwargs={"project": self.project.slug, "workload": self.id})

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def is_group(self) -> bool:
        return self.kind == self.Kind.GROUP

    @property
    def ref(self) -> WorkloadRef:
        """How backends name it."""
        return WorkloadRef(
            id=self.id.hex, project=self.project.slug, name=self.name, generation=self.evictions
        )

    @property
    def spec_json(self) -> str:
        return json.dumps(self.spec, indent=2)

    @property
    def total_gpus(self) -> int:
        return sum(request.gpus for request in self.requests.all())


class WorkloadRequest(models.Model):
    """What a workload asks for of one flavor, all replicas together: what quota counts."""

    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="requests")
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    gpus = models.PositiveIntegerField(default=0)
    cpu = models.DecimalField(max_digits=10, decimal_places=3, default=Decimal(0))
    memory_gib = models.DecimalField(max_digits=12, decimal_places=3, default=Decimal(0))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workload", "flavor"], name="workload_request_unique")]

    def __str__(self) -> str:
        return f"{self.workload}: {self.gpus} x {self.flavor}"

    @property
    def amounts(self) -> Amounts:
        return Amounts(self.gpus, self.cpu, self.memory_gib)


CANCEL_WORDS = {Workload.State.CANCELLING: "cancel requested", Workload.State.CANCELLED: "cancelled"}


# Cancel events written before events had an actor say who in their reason ("cancelled by alice").
LEGACY_CANCEL = ("cancel requested", "cancelled")


class WorkloadEvent(models.Model):
    """One transition of a workload, with its reason: the page's event log. A cancel also says who
    asked for it (`actor`; None: the platform, such as idle culling), apart from why (`reason`)."""

    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="events")
    time = models.DateTimeField(auto_now_add=True, db_index=True)
    state = models.CharField(max_length=16, choices=Workload.State.choices)
    previous = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["time", "id"]

    def __str__(self) -> str:
        return f"{self.workload}: {self.previous or '-'} -> {self.state}"

    def summary(self, words: dict[str, str] = CANCEL_WORDS) -> str:
        """The event in one line: a cancel as `words` name its states, by whom and why ("cancelled by
        alice", "cancelled by the platform: idle for 60 minutes"); any other event by its reason."""
        verb = words.get(self.state)
        if verb is None or (
            self.actor_id is None and self.reason.startswith(("cancel requested", "cancelled"))
        ):
            return self.reason  # (the second: written before events had an actor, it says it all)
        by = f"{verb} by {self.actor or 'the platform'}"
        return f"{by}: {self.reason}" if self.reason else by


class AdmissionLock(models.Model):
    """One row that every admission pass locks first, so two passes never count the same quota.

    Under PostgreSQL the UPDATE takes the row lock until commit; under SQLite it takes the
    database's write lock. Either way a second pass waits and then sees the first one's result.
    """

    passes = models.PositiveBigIntegerField(default=0)
    last_pass_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"admission lock ({self.passes} passes)"


class UsageSample(models.Model):
    """One project's queue and what its admitted workloads hold, in one minute: the points of the
    project dashboard's charts over time, taken by the sample_usage task."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="usage_samples")
    time = models.DateTimeField(help_text="The minute it was taken in (no seconds): one per project.")
    queued = models.PositiveIntegerField(default=0, help_text="Workloads waiting for admission.")
    gpus_in_use = models.PositiveIntegerField(default=0, help_text="GPUs its admitted workloads hold.")
    cpus_in_use = models.DecimalField(
        max_digits=10, decimal_places=3, default=Decimal(0), help_text="CPUs its admitted workloads hold."
    )

    class Meta:
        ordering = ["project", "time"]
        constraints = [models.UniqueConstraint(fields=["project", "time"], name="usage_sample_minute")]
        indexes = [models.Index(fields=["time"], name="usage_sample_time")]  # retention deletes by time

    def __str__(self) -> str:
        return f"{self.project} at {self.time:%Y-%m-%d %H:%M}: {self.queued} queued, {self.gpus_in_use} GPUs"
