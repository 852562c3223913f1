"""Reads for the GPU catalog (flavors, machine types, accelerators) and for quotas with their usage."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from mlplatform.compute.admission import Amounts  # pure: what a quota holds and uses
from mlplatform.core.models import Project
from mlplatform.quotas.models import AcceleratorType, Flavor, MachineType, ProjectQuota


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


# --- the catalog -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """A machine type of the catalog (or a scale tier) as a value: its shape, its GPUs, and for a
    scale tier the workers and parameter servers it starts beside the master."""

    name: str
    kind: str  # MachineType.Kind: compute_engine, legacy, scale_tier
    flavor: str
    vcpus: Decimal
    memory_gib: Decimal
    gpus: int = 0
    workers: int = 0
    parameter_servers: int = 0


def machine_types(*, names: Iterable[str] | None = None) -> dict[str, Machine]:
    """The catalog's machine types and scale tiers by name (those of `names`, else all): one query."""
    rows = MachineType.objects.select_related("flavor")
    if names is not None:
        rows = rows.filter(name__in=list(names))
    return {
        row.name: Machine(
            name=row.name,
            kind=row.kind,
            flavor=row.flavor.name,
            vcpus=row.vcpus,
            memory_gib=row.memory_gib,
            gpus=row.gpu_count,
            workers=row.worker_count,
            parameter_servers=row.parameter_server_count,
        )
        for row in rows
    }


def accelerator_flavors(*, names: Iterable[str] | None = None) -> dict[str, str]:
    """Google accelerator names (NVIDIA_TESLA_T4, ...) and the flavor each means here: one query."""
    rows = AcceleratorType.objects.all()
    if names is not None:
        rows = rows.filter(name__in=list(names))
    return dict(rows.values_list("name", "flavor__name"))
