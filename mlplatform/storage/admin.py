from django.contrib import admin

from mlplatform.storage.models import StorageConnection


@admin.register(StorageConnection)
class StorageConnectionAdmin(admin.ModelAdmin):
    """Read-mostly: connections are added by project admins, whose secrets admin never shows."""

    list_display = ["name", "project", "kind", "endpoint_url", "is_default", "has_credentials", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "project__slug"]
    fields = [
        "project",
        "name",
        "kind",
        "endpoint_url",
        "region",
        "path_style",
        "buckets",
        "default_bucket",
        "is_default",
        "has_credentials",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # credentials are entered on the project's Storage page, where they are validated
