"""AI Platform Prediction's models and versions. A version serves through a compute Workload (a
service); its state is that workload's, in AI Platform's words, except what only the version knows:
that its model failed to load (`error_message`) or that it is being deleted."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from mlplatform.compute.models import Workload
from mlplatform.core.models import Project

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}\Z")  # models and versions alike


def validate_name(value: str) -> None:
    if not NAME.match(value):
        raise ValidationError("Start with a letter; letters, digits and underscores only (at most 128).")


class Model(models.Model):
    """A named container of versions; predictions without a version go to `default_version`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prediction_models")
    name = models.CharField(max_length=128, validators=[validate_name])
    description = models.TextField(blank=True)
    labels = models.JSONField(default=dict, blank=True)
    regions = models.JSONField(default=list, blank=True)
    online_prediction_logging = models.BooleanField(default=False)
    online_prediction_console_logging = models.BooleanField(default=False)
    default_version = models.ForeignKey(
        "Version", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    create_time = models.DateTimeField(auto_now_add=True, db_index=True)
    update_time = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-create_time", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="prediction_model_unique")]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"

    @property
    def resource_name(self) -> str:
        return f"projects/{self.project.slug}/models/{self.name}"


class Version(models.Model):
    """One deployment of a model: its files (`deployment_uri`), how it serves, and the workload that
    serves it now. A patch of its scaling starts a new workload; the one it replaces
    (`retiring_workload`) serves until the new one runs."""

    class State(models.TextChoices):
        CREATING = "CREATING"
        READY = "READY"
        FAILED = "FAILED"
        DELETING = "DELETING"
        UPDATING = "UPDATING"

    class Framework(models.TextChoices):
        UNSPECIFIED = "", "Inferred from the files"
        TENSORFLOW = "TENSORFLOW"
        SCIKIT_LEARN = "SCIKIT_LEARN"
        XGBOOST = "XGBOOST"

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions")
    name = models.CharField(max_length=128, validators=[validate_name])
    description = models.TextField(blank=True)
    deployment_uri = models.CharField(max_length=1024, blank=True)
    runtime_version = models.CharField(max_length=16, blank=True)
    python_version = models.CharField(max_length=16, blank=True)
    framework = models.CharField(max_length=16, choices=Framework.choices, blank=True)
    machine_type = models.CharField(max_length=64, blank=True)
    accelerator_config = models.JSONField(default=dict, blank=True, help_text="{type, count}, or {}.")
    auto_scaling = models.JSONField(null=True, blank=True, help_text="{minNodes, maxNodes}, or null.")
    manual_scaling = models.JSONField(null=True, blank=True, help_text="{nodes}, or null.")
    prediction_class = models.CharField(max_length=300, blank=True)
    package_uris = models.JSONField(default=list, blank=True)
    container = models.JSONField(null=True, blank=True, help_text="A custom container (ContainerSpec).")
    routes = models.JSONField(null=True, blank=True, help_text="{predict, health} of a custom container.")
    max_batch_size = models.PositiveIntegerField(null=True, blank=True)
    max_batch_time_ms = models.PositiveIntegerField(null=True, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True, help_text="Why it failed, as AI Platform says it.")
    deleting = models.BooleanField(default=False)
    workload = models.OneToOneField(
        Workload, on_delete=models.SET_NULL, null=True, blank=True, related_name="prediction_version"
    )
    retiring_workload = models.OneToOneField(
        Workload, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    create_time = models.DateTimeField(auto_now_add=True, db_index=True)
    update_time = models.DateTimeField(auto_now=True)
    last_use_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-create_time", "-id"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="prediction_version_unique")]

    def __str__(self) -> str:
        return f"{self.model}/{self.name}"

    @property
    def resource_name(self) -> str:
        return f"{self.model.resource_name}/versions/{self.name}"

    @property
    def files(self) -> str:
        """What it serves: its model's folder, or a custom container's image."""
        return self.deployment_uri or (self.container or {}).get("image", "")

    @property
    def is_default(self) -> bool:
        return self.model.default_version_id == self.pk

    @property
    def serving_workload(self) -> Workload | None:
        """The workload predictions go to: the current one once it runs, else the one it replaces."""
        if self.workload is not None and self.workload.state == Workload.State.RUNNING:
            return self.workload
        retiring = self.retiring_workload
        return retiring if retiring is not None and retiring.state == Workload.State.RUNNING else None

    @property
    def state(self) -> str:
        if self.deleting:
            return self.State.DELETING
        if self.error_message:
            return self.State.FAILED
        workload = self.workload
        if workload is None or workload.state in (Workload.State.FAILED, Workload.State.CANCELLED):
            return self.State.FAILED
        if workload.state == Workload.State.RUNNING:
            return self.State.READY
        if self.retiring_workload_id is not None:
            return self.State.UPDATING
        return self.State.CREATING

    @property
    def failure(self) -> str:
        """errorMessage: the version's own, or why its workload ended."""
        if self.error_message:
            return self.error_message
        if self.state == self.State.FAILED and self.workload is not None:
            return f"Create Version failed. {self.workload.reason}".strip()
        return ""


class VersionTraffic(models.Model):
    """What `:predict` served for one version in one minute: the page's recent counts and latency."""

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="traffic")
    minute = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    milliseconds = models.FloatField(default=0, help_text="Time spent answering, all requests together.")

    class Meta:
        verbose_name_plural = "version traffic"
        constraints = [models.UniqueConstraint(fields=["version", "minute"], name="version_traffic_minute")]

    def __str__(self) -> str:
        return f"{self.version} {self.minute:%H:%M}: {self.requests}"
