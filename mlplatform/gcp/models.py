"""Long-running operations, as `google.longrunning.Operation` describes them."""

from __future__ import annotations

import secrets
import time

from django.db import models

from mlplatform.core.models import Project


def new_operation_id() -> str:
    # Sortable by creation and unguessable, like Google's own operation ids.
    return f"operation-{int(time.time() * 1000)}-{secrets.token_hex(6)}"


class Operation(models.Model):
    id = models.CharField(max_length=64, primary_key=True, default=new_operation_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="operations")
    location = models.CharField(max_length=63, blank=True, help_text="Empty for global ml v1 operations.")
    operation_type = models.CharField(max_length=64, help_text="e.g. CREATE_VERSION, START_INSTANCE.")
    target = models.CharField(max_length=300, blank=True, help_text="The resource it works on.")
    metadata = models.JSONField(default=dict, blank=True)
    done = models.BooleanField(default=False)
    error = models.JSONField(null=True, blank=True, help_text="google.rpc.Status when it failed.")
    response = models.JSONField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    create_time = models.DateTimeField(auto_now_add=True, db_index=True)
    update_time = models.DateTimeField(auto_now=True)
    end_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-create_time", "-id"]
        indexes = [models.Index(fields=["project", "location", "-create_time"])]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        if self.location:
            return f"projects/{self.project.slug}/locations/{self.location}/operations/{self.id}"
        return f"projects/{self.project.slug}/operations/{self.id}"
