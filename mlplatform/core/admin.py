from django.contrib import admin

from mlplatform.core.models import ApiToken, Membership, Project
from mlplatform.quotas.admin import ProjectQuotaInline


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "display_name", "member_count", "created_at"]
    search_fields = ["slug", "display_name"]
    inlines = [MembershipInline, ProjectQuotaInline]

    @admin.display(description="members")
    def member_count(self, project: Project) -> int:
        return project.memberships.count()

    def get_readonly_fields(self, request, obj=None):
        # The slug names a Kubernetes namespace and appears in API URLs: fixed once created.
        return ["slug"] if obj else []


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "status", "created_at", "expires_at", "last_used_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at"]
    fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request) -> bool:
        return False  # tokens are shown once, at creation: users issue them on their tokens page
