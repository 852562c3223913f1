from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from notebooks_app.models import IdlePolicy, Notebook, NotebookImage
from notebooks_app.selectors import idle_gpu_notebooks


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

    def get_urls(self):
        report = path(
            "idle-gpus/",
            self.admin_site.admin_view(self.idle_gpus_view),
            name="notebooks_notebook_idle_gpus",
        )
        return [report, *super().get_urls()]

    def idle_gpus_view(self, request):
        """The report "Idle notebooks holding GPUs": running GPU notebooks, the longest idle first."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Idle notebooks holding GPUs",
            "opts": self.model._meta,
            "rows": idle_gpu_notebooks(),
        }
        return TemplateResponse(request, "admin/notebooks/notebook/idle_gpus.html", context)


@admin.register(IdlePolicy)
class IdlePolicyAdmin(admin.ModelAdmin):
    """Per project: stop notebooks after so many minutes without kernel or terminal activity."""

    list_display = ["project", "stop_after_minutes", "warn_minutes_before", "enabled"]
    list_filter = ["enabled"]
    list_editable = ["stop_after_minutes", "warn_minutes_before", "enabled"]
    search_fields = ["project__slug"]
    list_select_related = ["project"]
