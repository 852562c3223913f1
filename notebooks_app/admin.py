from django.contrib import admin

from notebooks_app.models import Notebook, NotebookImage


@admin.register(NotebookImage)
class NotebookImageAdmin(admin.ModelAdmin):
    list_display = ["name", "image", "is_default", "description"]
    list_filter = ["is_default"]
    search_fields = ["name", "image", "description"]
    filter_horizontal = ["flavors"]


@admin.register(Notebook)
class NotebookAdmin(admin.ModelAdmin):
    """Notebooks change through their services (start, stop, delete); admins read them here."""

    list_display = ["name", "project", "owner", "state", "flavor", "gpus", "image", "created_at"]
    list_filter = ["project", "flavor", "image", "desired_state"]
    search_fields = ["name", "project__slug", "owner__username"]
    list_select_related = ["project", "owner", "flavor", "image", "workload"]
    readonly_fields = [f.name for f in Notebook._meta.fields if f.name != "secret"]
    exclude = ["secret"]

    def has_add_permission(self, request) -> bool:
        return False
