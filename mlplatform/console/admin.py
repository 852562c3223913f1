"""The project admin: members and quotas on one page, each quota with what the project uses now."""

from django.contrib import admin

from mlplatform.compute.selectors import usage
from mlplatform.core.admin import MembershipInline
from mlplatform.core.models import Project
from mlplatform.quotas.admin import ProjectQuotaInline
from mlplatform.quotas.amounts import Amounts
from mlplatform.quotas.models import ProjectQuota


class ProjectQuotaUsageInline(ProjectQuotaInline):
    fields = [*ProjectQuotaInline.fields[:4], "in_use", *ProjectQuotaInline.fields[4:]]
    readonly_fields = ["in_use"]

    def get_formset(self, request, obj=None, **kwargs):
        self._usage = {flavor: held for (_, flavor), held in usage(projects=[obj]).items()} if obj else {}
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="in use (GPUs / vCPUs / GiB)")
    def in_use(self, quota: ProjectQuota) -> str:
        used = self._usage.get(quota.flavor.name, Amounts()) if quota.pk else Amounts()
        return f"{used.gpus} / {used.cpu:g} / {used.memory_gib:g}"


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "display_name", "member_count", "created_at"]
    search_fields = ["slug", "display_name"]
    inlines = [MembershipInline, ProjectQuotaUsageInline]

    @admin.display(description="members")
    def member_count(self, project: Project) -> int:
        return project.memberships.count()

    def get_readonly_fields(self, request, obj=None):
        # The slug names a Kubernetes namespace and appears in API URLs: fixed once created.
        return ["slug"] if obj else []
