"""Writes for quotas. Admins usually edit them in Django admin; scripts use the API."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.quotas.models import Cohort, Flavor, ProjectQuota

QUOTA_FIELDS = (
    "nominal_gpus",
    "nominal_cpu",
    "nominal_memory_gib",
    "gpu_borrowing_limit",
    "gpu_lending_limit",
    "cpu_borrowing_limit",
    "cpu_lending_limit",
    "memory_borrowing_limit_gib",
    "memory_lending_limit_gib",
)


def quota_set(
    *, project: Project, flavor_name: str, cohort_name: str | None = None, **values: int | Decimal | None
) -> ProjectQuota:
    """Create or replace the project's quota for one flavor; fields left out are reset to defaults."""
    flavor = Flavor.objects.filter(name=flavor_name).first()
    if flavor is None:
        raise ApplicationError(f"No flavor named '{flavor_name}'.", code=ErrorCode.NOT_FOUND, field="flavor")
    cohort = None
    if cohort_name:
        cohort = Cohort.objects.filter(name=cohort_name).first()
        if cohort is None:
            raise ApplicationError(f"No cohort named '{cohort_name}'.", field="cohort")
    unknown = set(values) - set(QUOTA_FIELDS)
    if unknown:
        raise ApplicationError(f"unknown quota fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        quota = ProjectQuota.objects.select_for_update().filter(
            project=project, flavor=flavor
        ).first() or ProjectQuota(project=project, flavor=flavor)
        defaults = ProjectQuota(project=project, flavor=flavor)
        for name in QUOTA_FIELDS:
            setattr(quota, name, values.get(name, getattr(defaults, name)))
        quota.cohort = cohort
        try:
            quota.full_clean(validate_unique=False)
        except ValidationError as exc:
            name, messages = next(iter(exc.message_dict.items()))
            raise ApplicationError(messages[0], field=name) from exc
        quota.save()
    return quota
