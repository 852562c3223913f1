"""Reads for the GPU catalog and for quotas with their usage."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from mlplatform.compute.admission import Amounts  # pure: what a quota holds and uses
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.core.selectors import project_get, project_get_for_user
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


def project_for_quota_change(*, slug: str, user: AbstractBaseUser) -> Project:
    """The project whose quotas `user` sets: any project for platform staff, who manage them all.
    Raises NOT_FOUND for anyone else who is not a member (projects cannot be probed), and
    PERMISSION_DENIED for members, admins included: quotas are the platform's to give."""
    if user.is_staff:
        return project_get(slug=slug)
    project_get_for_user(slug=slug, user=user)
    raise ApplicationError("Only platform staff set quotas.", code=ErrorCode.PERMISSION_DENIED)
