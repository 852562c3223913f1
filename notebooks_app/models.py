"""GPU notebooks: a JupyterLab with a persistent home, run as a compute Workload each time it starts."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from mlplatform.compute.models import Workload
from mlplatform.core.models import Project
from mlplatform.core.validators import validate_dns_label
from mlplatform.quotas.models import Flavor
from mlplatform.storage.models import StorageConnection


class NotebookImage(models.Model):
    """An image of the admin-managed catalog that users pick from."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_dns_label])
    image = models.CharField(
        max_length=300, help_text="Image reference, e.g. quay.io/jupyter/scipy-notebook:…"
    )
    description = models.CharField(max_length=300, blank=True)
    flavors = models.ManyToManyField(
        Flavor, blank=True, related_name="notebook_images", help_text="Flavors it suits; none: all of them."
    )
    is_default = models.BooleanField(default=False, help_text="Used when a notebook names no image.")

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name

    def suits(self, flavor: Flavor) -> bool:
        flavors = list(self.flavors.all())
        return not flavors or flavor in flavors


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def default_location() -> str:
    """Where a notebook runs unless it names a place: the platform's first location."""
    return settings.PLATFORM_LOCATIONS[0]


class Notebook(models.Model):
    """A user's JupyterLab. Its state comes from its current workload, which is what queues and
    runs; `secret` is the token only the proxy sends to Jupyter (never shown to anyone)."""

    class State(models.TextChoices):
        QUEUED = "QUEUED"  # waiting for quota
        PROVISIONING = "PROVISIONING"  # admitted, being handed to the backend
        STARTING = "STARTING"  # on the backend: pulling, starting Jupyter, not ready yet
        ACTIVE = "ACTIVE"  # Jupyter answers
        STOPPING = "STOPPING"
        STOPPED = "STOPPED"
        FAILED = "FAILED"
        DELETING = "DELETING"

    class Desired(models.TextChoices):
        RUNNING = "RUNNING"
        STOPPED = "STOPPED"
        DELETED = "DELETED"

    # Workload states as a notebook's user sees them.
    STATES = {
        Workload.State.QUEUED: State.QUEUED,
        Workload.State.ADMITTED: State.PROVISIONING,
        Workload.State.STARTING: State.STARTING,
        Workload.State.RUNNING: State.ACTIVE,
        Workload.State.CANCELLING: State.STOPPING,
        Workload.State.CANCELLED: State.STOPPED,
        Workload.State.SUCCEEDED: State.STOPPED,  # Jupyter shut down from its own menu
        Workload.State.FAILED: State.FAILED,
    }

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="notebooks")
    name = models.CharField(
        max_length=63, validators=[validate_dns_label], help_text="A DNS-1123 label, unique in the project."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="notebooks"
    )
    image = models.ForeignKey(NotebookImage, on_delete=models.PROTECT, related_name="notebooks")
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    gpus = models.PositiveIntegerField(default=0)
    cpu = models.DecimalField(
        max_digits=8, decimal_places=3, default=Decimal(2), validators=[MinValueValidator(Decimal("0.001"))]
    )
    memory_gib = models.DecimalField(
        max_digits=10, decimal_places=3, default=Decimal(4), validators=[MinValueValidator(Decimal("0.001"))]
    )
    home_size_gib = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(16384)]
    )
    env = models.JSONField(default=dict, blank=True, help_text="Extra environment variables.")
    storage_connections = models.ManyToManyField(
        StorageConnection,
        blank=True,
        related_name="notebooks",
        help_text="The project's connections wired into Jupyter (credentials as a secret environment "
        "and key files).",
    )
    location = models.CharField(
        max_length=63, default=default_location, help_text="Where it runs (a Workbench location)."
    )
    labels = models.JSONField(default=dict, blank=True, help_text="Google-style labels (Workbench API).")
    secret = models.CharField(max_length=64, default=new_secret, editable=False)
    workload = models.OneToOneField(
        Workload,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notebook",
        help_text="The workload of the latest start.",
    )
    desired_state = models.CharField(max_length=16, choices=Desired.choices, default=Desired.RUNNING)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="notebook_name_unique")]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"

    @property
    def state(self) -> str:
        if self.desired_state == self.Desired.DELETED:
            return self.State.DELETING
        if self.workload is None:
            return self.State.STOPPED
        return self.STATES[self.workload.state]

    @property
    def reason(self) -> str:
        """Why it waits or failed, in one line; empty otherwise."""
        if self.workload is not None and self.state in (self.State.QUEUED, self.State.FAILED):
            return self.workload.reason
        return ""

    @property
    def queue_position(self) -> int | None:
        return self.workload.queue_position if self.workload is not None else None

    @property
    def is_stopped(self) -> bool:
        return self.state in (self.State.STOPPED, self.State.FAILED)

    @property
    def proxy_path(self) -> str:
        return f"/notebooks/{self.project.slug}/{self.name}/"


class IdlePolicy(models.Model):
    """A project's idle culling: stop its notebooks after so many minutes without kernel or terminal
    activity (as Jupyter reports it), with a warning on the notebook's page shortly before."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="idle_policy")
    stop_after_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Stop a notebook idle this long; empty: never.",
    )
    warn_minutes_before = models.PositiveIntegerField(
        default=10, help_text="Warn on the notebook's page this many minutes before it stops."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "idle policies"

    def __str__(self) -> str:
        after = f"{self.stop_after_minutes} min" if self.stop_after_minutes else "never"
        return f"{self.project}: stop after {after}{'' if self.enabled else ' (off)'}"

    @property
    def stop_after(self) -> timedelta | None:
        """How long idle stops a notebook; None while the policy stops none (off, or no limit)."""
        return (
            timedelta(minutes=self.stop_after_minutes) if self.enabled and self.stop_after_minutes else None
        )

    @property
    def warn_before(self) -> timedelta:
        return timedelta(minutes=self.warn_minutes_before)


class NotebookActivity(models.Model):
    """The latest activity of a running notebook's Jupyter, as the last culling pass found it."""

    notebook = models.OneToOneField(Notebook, on_delete=models.CASCADE, related_name="activity")
    last_activity = models.DateTimeField()
    checked_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "notebook activity"

    def __str__(self) -> str:
        return f"{self.notebook}: last active {self.last_activity:%Y-%m-%d %H:%M}"
