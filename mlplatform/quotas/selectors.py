"""Reads for the GPU catalog: flavors, machine types and scale tiers, accelerators. Quotas with
their usage are compute's (compute.selectors.quota_board)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.core.selectors import project_get, project_get_for_user
from mlplatform.quotas.models import AcceleratorType, Flavor, MachineType


def flavors_list() -> QuerySet[Flavor]:
    return Flavor.objects.prefetch_related("accelerator_types")


def project_for_quota_change(*, slug: str, user: AbstractBaseUser) -> Project:
    """The project whose quotas `user` sets: any project for platform staff, who manage them all.
    Raises NOT_FOUND for anyone else who is not a member (projects cannot be probed), and
    PERMISSION_DENIED for members, admins included: quotas are the platform's to give."""
    if user.is_staff:
        return project_get(slug=slug)
    project_get_for_user(slug=slug, user=user)
    raise ApplicationError("Only platform staff set quotas.", code=ErrorCode.PERMISSION_DENIED)


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
