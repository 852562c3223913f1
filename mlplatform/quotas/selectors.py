"""Reads for the GPU catalog and for quotas with their usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import QuerySet, Sum

from mlplatform.core.models import Project
from mlplatform.quotas.models import Flavor, ProjectQuota


@dataclass(frozen=True)
class Resources:
    """An amount of one flavor: GPUs, vCPUs and memory."""

    gpus: int = 0
    cpu: Decimal = field(default_factory=Decimal)
    memory_gib: Decimal = field(default_factory=Decimal)


@dataclass(frozen=True)
class QuotaUsage:
    quota: ProjectQuota
    used: Resources

    @property
    def flavor(self) -> Flavor:
        return self.quota.flavor

    @property
    def nominal(self) -> Resources:
        q = self.quota
        return Resources(gpus=q.nominal_gpus, cpu=q.nominal_cpu, memory_gib=q.nominal_memory_gib)


def flavors_list() -> QuerySet[Flavor]:
    return Flavor.objects.prefetch_related("accelerator_types")


def usage_by_flavor(project: Project) -> dict[int, Resources]:
    """What the project's admitted workloads hold, per flavor id (zero until it has some)."""
    from mlplatform.compute.models import Workload, WorkloadRequest

    totals = (
        WorkloadRequest.objects.filter(workload__project=project, workload__state__in=Workload.HOLDING)
        .values("flavor_id")
        .annotate(gpus=Sum("gpus"), cpu=Sum("cpu"), memory_gib=Sum("memory_gib"))
    )
    return {
        row["flavor_id"]: Resources(gpus=row["gpus"], cpu=row["cpu"], memory_gib=row["memory_gib"])
        for row in totals
    }


def quota_usage(project: Project) -> list[QuotaUsage]:
    """Each of the project's quotas with what it uses now, GPU flavors first."""
    used = usage_by_flavor(project)
    quotas = ProjectQuota.objects.filter(project=project).select_related("flavor", "cohort")
    rows = [QuotaUsage(quota=q, used=used.get(q.flavor_id, Resources())) for q in quotas]
    return sorted(rows, key=lambda row: (not row.flavor.is_gpu, row.flavor.name))
