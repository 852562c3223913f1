from django.contrib import admin

from mlplatform.compute.admission import Amounts
from mlplatform.quotas.models import AcceleratorType, Cohort, Flavor, MachineType, ProjectQuota
from mlplatform.quotas.selectors import usage_by_flavor
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
    model = ProjectQuota
    extra = 0
    fields = ["flavor", *QUOTA_FIELDS[:3], "in_use", "cohort", *QUOTA_FIELDS[3:]]
    readonly_fields = ["in_use"]

    def get_formset(self, request, obj=None, **kwargs):
        self._usage = usage_by_flavor(obj) if obj else {}
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="in use (GPUs / vCPUs / GiB)")
    def in_use(self, quota: ProjectQuota) -> str:
        used = self._usage.get(quota.flavor.name, Amounts()) if quota.pk else Amounts()
        return f"{used.gpus} / {used.cpu:g} / {used.memory_gib:g}"


@admin.register(ProjectQuota)
class ProjectQuotaAdmin(admin.ModelAdmin):
    list_display = ["project", "flavor", "nominal_gpus", "nominal_cpu", "nominal_memory_gib", "cohort"]
    list_filter = ["flavor", "cohort"]
    search_fields = ["project__slug"]
