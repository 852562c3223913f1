"""Reads for the GPU catalog and for quotas with their usage."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from mlplatform.compute.admission import Amounts  # pure: what a quota holds and uses
from mlplatform.core.models import Project
from mlplatform.quotas.models import Flavor, ProjectQuota


@dataclass(frozen=True)
class QuotaUsage:
    quota: ProjectQuota
    used: Amounts

    @property
    def flavor(self) -> Flavor:
        return self.quota.flavor

    @property
    def nominal(self) -> Amounts:
        q = self.quota
        return Amounts(gpus=q.nominal_gpus, cpu=q.nominal_cpu, memory_gib=q.nominal_memory_gib)


def flavors_list() -> QuerySet[Flavor]:
    return Flavor.objects.prefetch_related("accelerator_types")


def usage_by_flavor(project: Project) -> dict[str, Amounts]:
    """What the project's admitted workloads hold, per flavor name (compute's usage; zero until
    it has some)."""
    from mlplatform.compute.selectors import usage

    return {flavor: held for (_, flavor), held in usage(projects=[project]).items()}


def quota_usage(project: Project) -> list[QuotaUsage]:
    """Each of the project's quotas with what it uses now, GPU flavors first."""
    used = usage_by_flavor(project)
    quotas = ProjectQuota.objects.filter(project=project).select_related("flavor", "cohort")
    rows = [QuotaUsage(quota=q, used=used.get(q.flavor.name, Amounts())) for q in quotas]
    return sorted(rows, key=lambda row: (not row.flavor.is_gpu, row.flavor.name))
