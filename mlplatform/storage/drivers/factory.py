"""Build the driver a storage connection describes."""

from __future__ import annotations

import json

from django.conf import settings

from mlplatform.storage.drivers.base import StorageDriver
from mlplatform.storage.models import StorageConnection


def driver_for(connection: StorageConnection) -> StorageDriver:
    credentials = connection.credentials
    if connection.kind == StorageConnection.Kind.S3:
        from mlplatform.storage.drivers.s3 import S3Driver  # boto3 loads only when an S3 store is used

        return S3Driver(
            endpoint_url=connection.endpoint_url or None,
            region=connection.region or None,
            access_key_id=credentials.get("access_key_id", ""),
            secret_access_key=credentials.get("secret_access_key", ""),
            path_style=connection.path_style,
        )
    if connection.kind == StorageConnection.Kind.GCS:
        from mlplatform.storage.drivers.gcs import GcsDriver  # google-cloud-storage, likewise

        key = credentials.get("service_account_json")
        return GcsDriver(
            endpoint_url=connection.endpoint_url or None,
            service_account_info=json.loads(key) if key else None,
        )
    from mlplatform.storage.drivers.local import LocalDriver  # as the others: loaded when used

    return LocalDriver(root=settings.STORAGE_LOCAL_ROOT)
