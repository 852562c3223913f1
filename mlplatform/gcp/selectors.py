"""Reads for the Google-compatible facades: operations and locations."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.gcp.filtering import field, parse_filter
from mlplatform.gcp.models import Operation
from mlplatform.quotas.models import AcceleratorType

OPERATION_FILTERS = {
    "done": field("done", cast=lambda v: {"true": True, "false": False}[v.lower()]),
    "operationType": field("operation_type"),
    "target": field("target"),
}


def operations_list(*, project: Project, location: str = "", filter_text: str = "") -> QuerySet[Operation]:
    return Operation.objects.filter(project=project, location=location).filter(
        parse_filter(filter_text, OPERATION_FILTERS)
    )


def operation_get(*, project: Project, operation_id: str, location: str = "") -> Operation:
    operation = Operation.objects.filter(project=project, location=location, pk=operation_id).first()
    if operation is None:
        raise ApplicationError(f"Operation {operation_id} was not found.", code=ErrorCode.NOT_FOUND)
    return operation


def locations_list() -> list[str]:
    return list(settings.PLATFORM_LOCATIONS)


def location_get(*, location: str) -> str:
    if location not in settings.PLATFORM_LOCATIONS:
        raise ApplicationError(
            f"Location '{location}' is not served here; use one of {', '.join(settings.PLATFORM_LOCATIONS)}.",
            code=ErrorCode.NOT_FOUND,
        )
    return location


def project_accelerator_types(project: Project) -> list[str]:
    """Accelerator names the project can use: flavors it has GPU quota for or may borrow in a cohort."""
    return list(
        AcceleratorType.objects.filter(
            Q(flavor__quotas__project=project)
            & (Q(flavor__quotas__nominal_gpus__gt=0) | Q(flavor__quotas__cohort__isnull=False))
        )
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )
