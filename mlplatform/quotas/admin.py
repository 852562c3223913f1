from django.contrib import admin

from mlplatform.quotas.models import AcceleratorType, Cohort, Flavor, MachineType, ProjectQuota
from mlplatform.quotas.services import QUOTA_FIELDS


class AcceleratorTypeInline(admin.TabularInline):
    model = AcceleratorType
    extra = 0


@admin.register(Flavor)
class FlavorAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "display_name",
        "resource_name",
        "gpu_memory_gib",
        "cpu_per_gpu",
        "memory_gib_per_gpu",
        "hourly_price",
    ]
    search_fields = ["name", "display_name"]
    inlines = [AcceleratorTypeInline]


@admin.register(MachineType)
class MachineTypeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "vcpus",
        "memory_gib",
        "flavor",
        "gpu_count",
        "worker_count",
        "parameter_server_count",
    ]
    list_filter = ["kind", "flavor"]
    search_fields = ["name"]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]


class ProjectQuotaInline(admin.TabularInline):
    """A project's quotas on its admin page (mlplatform.console.admin adds what each uses)."""

    model = ProjectQuota
    extra = 0
    fields = ["flavor", *QUOTA_FIELDS[:3], "cohort", *QUOTA_FIELDS[3:]]


@admin.register(ProjectQuota)
class ProjectQuotaAdmin(admin.ModelAdmin):
    list_display = ["project", "flavor", "nominal_gpus", "nominal_cpu", "nominal_memory_gib", "cohort"]
    list_filter = ["flavor", "cohort"]
    search_fields = ["project__slug"]
