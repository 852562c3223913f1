"""The GPU catalog (flavors, accelerator and machine types) and quotas per project and flavor.

The names follow Kueue: a Flavor is a ResourceFlavor, a project's quotas are its
ClusterQueue's, and a Cohort is a group of projects that lend unused quota to each other.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from mlplatform.core.models import Project
from mlplatform.core.validators import validate_dns_label
from mlplatform.quotas.amounts import Amounts, Limits

NON_NEGATIVE = [MinValueValidator(0)]


def _decimal(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=10, decimal_places=2, validators=NON_NEGATIVE, **kwargs)


class Flavor(models.Model):
    """A kind of accelerator or machine that workloads ask for and quotas are counted in."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_dns_label])
    display_name = models.CharField(max_length=100, blank=True)
    resource_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Extended resource for one accelerator, e.g. nvidia.com/gpu; empty for CPU only.",
    )
    gpu_memory_gib = models.PositiveIntegerField(default=0, help_text="Memory of one accelerator.")
    node_selector = models.JSONField(
        default=dict,
        blank=True,
        help_text='Node labels, e.g. {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}.',
    )
    tolerations = models.JSONField(
        default=list, blank=True, help_text="Kubernetes tolerations added to pods of this flavor."
    )
    cpu_per_gpu = _decimal(default=Decimal("8"), help_text="Default vCPUs given with each GPU.")
    memory_gib_per_gpu = _decimal(default=Decimal("32"), help_text="Default GiB given with each GPU.")
    hourly_price = _decimal(
        default=Decimal("0"), help_text="Price per GPU-hour (per vCPU-hour for CPU-only flavors)."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_gpu(self) -> bool:
        return bool(self.resource_name)

    @property
    def title(self) -> str:
        return self.display_name or self.name

    def clean(self) -> None:
        errors = {}
        if not isinstance(self.node_selector, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.node_selector.items()
        ):
            errors["node_selector"] = "Must be an object of label names to string values."
        if not isinstance(self.tolerations, list) or not all(isinstance(t, dict) for t in self.tolerations):
            errors["tolerations"] = "Must be a list of Kubernetes toleration objects."
        if not self.is_gpu and self.gpu_memory_gib:
            errors["gpu_memory_gib"] = "A CPU-only flavor (no resource name) has no GPU memory."
        if errors:
            raise ValidationError(errors)


class AcceleratorType(models.Model):
    """A Google accelerator name (NVIDIA_TESLA_A100, NVIDIA_H100_80GB, ...) and the flavor it means here."""

    name = models.CharField(max_length=64, primary_key=True)
    flavor = models.ForeignKey(Flavor, on_delete=models.CASCADE, related_name="accelerator_types")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.flavor}"


class MachineType(models.Model):
    """An AI Platform machine name (n1-standard-8, complex_model_m, BASIC_GPU, ...) and its shape."""

    class Kind(models.TextChoices):
        COMPUTE_ENGINE = "compute_engine", "Compute Engine type"
        LEGACY = "legacy", "Legacy AI Platform type"
        SCALE_TIER = "scale_tier", "Scale tier"
        PREDICTION = "prediction", "AI Platform Prediction type (mls1)"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    vcpus = _decimal()
    memory_gib = _decimal()
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="machine_types")
    gpu_count = models.PositiveIntegerField(default=0)
    worker_count = models.PositiveIntegerField(
        default=0, help_text="Scale tiers only: workers started beside the master."
    )
    parameter_server_count = models.PositiveIntegerField(
        default=0, help_text="Scale tiers only: parameter servers started beside the master."
    )
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.gpu_count and self.flavor_id and not self.flavor.is_gpu:
            raise ValidationError({"gpu_count": f"Flavor '{self.flavor}' has no GPUs to give."})
        if self.kind != self.Kind.SCALE_TIER and (self.worker_count or self.parameter_server_count):
            raise ValidationError({"worker_count": "Only scale tiers start workers or parameter servers."})


class Cohort(models.Model):
    """Projects whose quotas share a cohort lend each other what they do not use."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_dns_label])
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProjectQuota(models.Model):
    """How much of one flavor a project may use, and what it may borrow or lend in its cohort.

    Empty limits mean "no limit": borrow everything the cohort has spare, lend everything unused.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quotas")
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="quotas")
    cohort = models.ForeignKey(
        Cohort, on_delete=models.SET_NULL, null=True, blank=True, related_name="quotas"
    )
    nominal_gpus = models.PositiveIntegerField(default=0, verbose_name="GPUs")
    nominal_cpu = _decimal(default=Decimal("0"), verbose_name="vCPUs")
    nominal_memory_gib = _decimal(default=Decimal("0"), verbose_name="memory (GiB)")
    gpu_borrowing_limit = models.PositiveIntegerField(null=True, blank=True)
    gpu_lending_limit = models.PositiveIntegerField(null=True, blank=True)
    cpu_borrowing_limit = _decimal(null=True, blank=True)
    cpu_lending_limit = _decimal(null=True, blank=True)
    memory_borrowing_limit_gib = _decimal(null=True, blank=True)
    memory_lending_limit_gib = _decimal(null=True, blank=True)

    class Meta:
        ordering = ["project__slug", "flavor__name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "flavor"], name="quota_unique_per_flavor"),
            models.CheckConstraint(
                condition=Q(nominal_cpu__gte=0) & Q(nominal_memory_gib__gte=0),
                name="quota_nominal_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} / {self.flavor}"

    @property
    def nominal(self) -> Amounts:
        return Amounts(self.nominal_gpus, self.nominal_cpu, self.nominal_memory_gib)

    @property
    def borrowing_limit(self) -> Limits:
        return Limits(self.gpu_borrowing_limit, self.cpu_borrowing_limit, self.memory_borrowing_limit_gib)

    @property
    def lending_limit(self) -> Limits:
        return Limits(self.gpu_lending_limit, self.cpu_lending_limit, self.memory_lending_limit_gib)

    LIMITS = (
        ("gpu_lending_limit", "nominal_gpus", "GPUs"),
        ("cpu_lending_limit", "nominal_cpu", "vCPUs"),
        ("memory_lending_limit_gib", "nominal_memory_gib", "GiB"),
    )
    BORROWING = ("gpu_borrowing_limit", "cpu_borrowing_limit", "memory_borrowing_limit_gib")

    def clean(self) -> None:
        errors = {}
        for limit, nominal, unit in self.LIMITS:
            value, quota = getattr(self, limit), getattr(self, nominal)
            if value is not None and quota is not None and value > quota:
                errors[limit] = f"Cannot lend more than the nominal quota ({quota} {unit})."
        if self.cohort_id is None:
            for limit in self.BORROWING + tuple(limit for limit, _, _ in self.LIMITS):
                if getattr(self, limit) is not None:
                    errors[limit] = "Borrowing and lending limits need a cohort."
        if self.flavor_id and not self.flavor.is_gpu and self.nominal_gpus:
            errors["nominal_gpus"] = f"Flavor '{self.flavor}' is CPU only; its GPU quota must be 0."
        if errors:
            raise ValidationError(errors)
