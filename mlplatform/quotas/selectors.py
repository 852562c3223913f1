"""Reads for the GPU catalog. Quotas with their usage are compute's (compute.selectors.quota_board)."""

from __future__ import annotations

from django.db.models import QuerySet

from mlplatform.quotas.models import Flavor


def flavors_list() -> QuerySet[Flavor]:
    return Flavor.objects.prefetch_related("accelerator_types")
