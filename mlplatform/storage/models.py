"""Storage connections: how a project reaches its buckets, with credentials encrypted at rest."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from mlplatform.core.models import Project
from mlplatform.core.validators import validate_dns_label
from mlplatform.storage import crypto


class StorageConnection(models.Model):
    class Kind(models.TextChoices):
        S3 = "s3", "S3-compatible (AWS S3, Ceph RGW, MinIO)"
        GCS = "gcs", "Google Cloud Storage"
        LOCAL = "local", "Local buckets (folders on the console's machine)"

    # URI schemes each kind serves: local buckets answer gs:// and s3:// URIs alike, so that
    # unmodified scripts work on the embedded default.
    SCHEMES = {Kind.S3: ("s3",), Kind.GCS: ("gs",), Kind.LOCAL: ("gs", "s3")}

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="storage_connections")
    name = models.CharField(max_length=63, validators=[validate_dns_label])
    kind = models.CharField(max_length=8, choices=Kind.choices)
    endpoint_url = models.URLField(blank=True, help_text="Custom endpoint (Ceph, MinIO, an emulator).")
    region = models.CharField(max_length=63, blank=True)
    path_style = models.BooleanField(default=True, help_text="S3 path-style addressing (Ceph, MinIO).")
    buckets = models.JSONField(default=list, help_text="The buckets this connection may reach.")
    default_bucket = models.CharField(max_length=63, blank=True)
    is_default = models.BooleanField(default=False, help_text="Holds the project's job dirs and models.")
    encrypted_credentials = models.BinaryField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__slug", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="storage_connection_name_unique"),
            models.UniqueConstraint(
                fields=["project"], condition=Q(is_default=True), name="storage_one_default_per_project"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"

    @property
    def schemes(self) -> tuple[str, ...]:
        return self.SCHEMES[self.Kind(self.kind)]

    @property
    def credentials(self) -> dict:
        return crypto.decrypt(self.encrypted_credentials)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.encrypted_credentials = crypto.encrypt(value) if value else None

    @property
    def has_credentials(self) -> bool:
        return bool(self.encrypted_credentials)

    @property
    def default_uri(self) -> str | None:
        if not self.default_bucket:
            return None
        return f"{self.schemes[0]}://{self.default_bucket}/"
