from django.contrib import admin

from mlplatform.compute.models import Workload, WorkloadEvent, WorkloadRequest


class WorkloadRequestInline(admin.TabularInline):
    model = WorkloadRequest
    extra = 0
    can_delete = False
    readonly_fields = ["flavor", "gpus", "cpu", "memory_gib"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class WorkloadEventInline(admin.TabularInline):
    model = WorkloadEvent
    extra = 0
    can_delete = False
    readonly_fields = ["time", "previous", "state", "reason"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Workload)
class WorkloadAdmin(admin.ModelAdmin):
    """Workloads are read here; they change through their apps, the queue and the backends."""

    list_display = ["name", "project", "kind", "state", "priority", "owner", "created_at"]
    list_filter = ["state", "kind", "backend", "project"]
    search_fields = ["name", "project__slug", "owner__username", "reason"]
    readonly_fields = [f.name for f in Workload._meta.fields if f.name != "priority"]
    inlines = [WorkloadRequestInline, WorkloadEventInline]

    def has_add_permission(self, request) -> bool:
        return False
