"""Writes for storage connections and objects. Every object operation goes through the
project's connections: a URI is usable only when one of them reaches its bucket."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction

from mlplatform.core.errors import ApplicationError, ErrorCode, Refusals
from mlplatform.core.models import Project
from mlplatform.core.validators import dns_label_problem
from mlplatform.storage.drivers import base
from mlplatform.storage.drivers.factory import driver_for
from mlplatform.storage.drivers.local import LocalDriver
from mlplatform.storage.models import StorageConnection
from mlplatform.storage.selectors import PROBE_PREFIX, connection_for_uri, store_errors
from mlplatform.storage.uris import BUCKET, ObjectUri

Kind = StorageConnection.Kind
_ENDPOINT = URLValidator(schemes=["http", "https"])


def endpoint_problem(endpoint_url: str) -> str | None:
    """Why `endpoint_url` cannot be a store's endpoint, or None when it can (or is empty)."""
    if not endpoint_url:
        return None
    try:
        _ENDPOINT(endpoint_url)
    except ValidationError:
        return (
            f"'{endpoint_url}' is not an endpoint URL: give the store's http:// or https:// address, "
            "such as https://s3.example.com or http://127.0.0.1:9000"
        )
    return None


def _check_credentials(kind: str, credentials: dict, endpoint_url: str) -> dict:
    if kind == Kind.S3:
        missing = [k for k in ("access_key_id", "secret_access_key") if not credentials.get(k)]
        if missing:
            message = "S3 connections need an access key and a secret."
            errors = [ApplicationError(message, field=k) for k in missing]
            raise ApplicationError(message, field=missing[0], errors=errors)
        return {k: credentials[k] for k in ("access_key_id", "secret_access_key")}
    if kind == Kind.GCS:
        key = credentials.get("service_account_json")
        if not key:
            if endpoint_url:  # an emulator, which checks no credentials
                return {}
            raise ApplicationError(
                "GCS connections need a service-account JSON key.", field="service_account_json"
            )
        try:
            info = json.loads(key) if isinstance(key, str) else key
            if info.get("type") != "service_account" or "private_key" not in info:
                raise ValueError
        except (ValueError, AttributeError, TypeError):
            raise ApplicationError(
                "must be a service-account JSON key (type service_account, with a private_key).",
                field="service_account_json",
            ) from None
        return {"service_account_json": json.dumps(info)}
    return {}


def storage_connection_create(
    *,
    project: Project,
    name: str,
    kind: str,
    buckets: list[str],
    default_bucket: str = "",
    endpoint_url: str = "",
    region: str = "",
    path_style: bool = True,
    credentials: dict | None = None,
    make_default: bool = False,
    created_by: AbstractBaseUser | None = None,
) -> StorageConnection:
    """Add a connection. Local buckets are created as folders, and belong to one project only.
    Raises ApplicationError with every field's refusal; nothing is written then."""
    refusals = Refusals()
    if problem := dns_label_problem(name):
        refusals.refuse(f"'{name}' {problem}.", field="name")
    if kind not in Kind.values:
        refusals.refuse(f"'{kind}' is not a storage kind; use one of {', '.join(Kind.values)}.", field="kind")
    buckets = list(dict.fromkeys(buckets))
    if not buckets:
        refusals.refuse("name at least one bucket.", field="buckets")
    if bad := [bucket for bucket in buckets if not BUCKET.match(bucket)]:
        refusals.refuse(f"'{bad[0]}' is not a valid bucket name.", field="buckets")
    if default_bucket and default_bucket not in buckets:
        refusals.refuse(f"'{default_bucket}' is not one of the connection's buckets.", field="default_bucket")
    if kind == Kind.LOCAL and endpoint_url:
        refusals.refuse("Local connections have no endpoint.", field="endpoint_url")
    elif problem := endpoint_problem(endpoint_url):
        refusals.refuse(f"{problem}.", field="endpoint_url")
    secrets = refusals.check(_check_credentials, kind, credentials or {}, endpoint_url)
    refusals.raise_any()
    connection = StorageConnection(
        project=project,
        name=name,
        kind=kind,
        buckets=buckets,
        default_bucket=default_bucket or (buckets[0] if make_default else ""),
        endpoint_url=endpoint_url,
        region=region,
        path_style=path_style,
        is_default=make_default,
        created_by=created_by,
    )
    connection.credentials = secrets
    try:
        with transaction.atomic():
            _ensure_buckets_free(connection)
            if make_default:
                StorageConnection.objects.filter(project=project, is_default=True).update(is_default=False)
            connection.save()
    except IntegrityError as exc:
        raise ApplicationError(
            f"A storage connection named '{name}' already exists.",
            code=ErrorCode.ALREADY_EXISTS,
            field="name",
        ) from exc
    if kind == Kind.LOCAL:
        local = LocalDriver(root=settings.STORAGE_LOCAL_ROOT)
        for bucket in buckets:
            local.create_bucket(bucket)
    return connection


def _ensure_buckets_free(connection: StorageConnection) -> None:
    """A bucket is reached through one connection per project; a local bucket by one project."""
    others = StorageConnection.objects.select_for_update().exclude(pk=connection.pk)
    for other in others:
        shared = set(other.buckets) & set(connection.buckets)
        same_project = other.project_id == connection.project_id
        overlapping_schemes = set(other.schemes) & set(connection.schemes)
        local_clash = Kind.LOCAL in (other.kind, connection.kind) and other.kind == connection.kind
        if shared and ((same_project and overlapping_schemes) or (not same_project and local_clash)):
            bucket = sorted(shared)[0]
            owner = "this project" if same_project else "another project"
            raise ApplicationError(
                f"Bucket '{bucket}' is already reached through {owner}'s connection.",
                code=ErrorCode.ALREADY_EXISTS,
                field="buckets",
            )


def storage_connection_delete(*, connection: StorageConnection) -> None:
    """Remove a connection; the data in its buckets stays where it is."""
    connection.delete()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def storage_connection_test(*, connection: StorageConnection) -> list[Check]:
    """Try to list, write, read and delete a probe object in each bucket; say what works. Every
    failure is a check that says why, never an exception: a connection saved before its endpoint
    was checked, or one its driver refuses, fails at the endpoint."""
    if problem := endpoint_problem(connection.endpoint_url):
        return [Check("endpoint", False, f"{problem}; remove the connection and add it again.")]
    try:
        driver = driver_for(connection)
    except (ValueError, base.StorageError) as exc:  # botocore: "Invalid endpoint: ..."
        return [Check("endpoint", False, f"The store's client refused the connection: {exc}")]
    return [check for bucket in connection.buckets for check in _probe_bucket(driver, bucket)]


PROBE = b"mlplatform connection test"


def _probe_bucket(driver: base.StorageDriver, bucket: str) -> list[Check]:
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"

    def read_back() -> None:
        if b"".join(driver.read(bucket, key)) != PROBE:
            raise base.StorageError("read back different bytes than were written")

    steps = [
        ("list", lambda: driver.list(bucket, "", page_size=1), "can list objects"),
        ("write", lambda: driver.write(bucket, key, _Bytes(PROBE), size=len(PROBE)), "can write"),
        ("read", read_back, "can read back"),
        ("delete", lambda: driver.delete(bucket, key), "can delete"),
    ]
    checks = []
    for step, run, success in steps:
        try:
            run()
        except base.StorageError as exc:
            checks.append(Check(f"{bucket}: {step}", False, str(exc) or type(exc).__name__))
            break  # later steps depend on this one
        checks.append(Check(f"{bucket}: {step}", True, success))
    return checks


class _Bytes:
    def __init__(self, data: bytes):
        self._data, self._pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk, self._pos = self._data[self._pos : end], min(end, len(self._data))
        return chunk


class _LimitedStream:
    """Reads a request body, failing once it passes the upload limit."""

    def __init__(self, stream: BinaryIO, limit: int):
        self._stream, self._limit, self.read_bytes = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.read_bytes += len(chunk)
        if self.read_bytes > self._limit:
            raise UploadTooLarge(self._limit)
        return chunk


class UploadTooLarge(base.StorageError):
    def __init__(self, limit: int):
        super().__init__(f"Uploads are limited to {limit} bytes.")
        self.limit = limit


def _too_large(limit: int) -> ApplicationError:
    return ApplicationError(
        f"Uploads are limited to {limit:,} bytes.", code=ErrorCode.REQUEST_TOO_LARGE, field="body"
    )


def object_write(
    *, project: Project, uri: ObjectUri, stream: BinaryIO, size: int | None, content_type: str | None = None
) -> base.ObjectInfo:
    """Upload a stream to `uri`. Over the size limit, or failing midway, nothing is stored."""
    if uri.is_prefix:
        raise ApplicationError("An object URI must name a file, not a folder.", field="uri")
    limit = settings.STORAGE_UPLOAD_MAX_BYTES
    if size is not None and size > limit:
        raise _too_large(limit)
    connection = connection_for_uri(project=project, uri=uri)
    limited = _LimitedStream(stream, limit)
    try:
        with store_errors(str(uri)):
            return driver_for(connection).write(
                uri.bucket, uri.key, limited, size=size, content_type=content_type
            )
    except UploadTooLarge as exc:
        raise _too_large(limit) from exc
    except ApplicationError as exc:
        if limited.read_bytes > limit:  # a driver that wrapped our own error
            raise _too_large(limit) from exc
        raise


def object_delete(*, project: Project, uri: ObjectUri) -> None:
    connection = connection_for_uri(project=project, uri=uri)
    with store_errors(str(uri)):
        driver_for(connection).delete(uri.bucket, uri.key)


def folder_create(*, project: Project, uri: ObjectUri) -> base.ObjectInfo:
    """A folder is an empty object whose name ends with '/', as consoles of S3 and GCS make them."""
    folder = uri if uri.key.endswith("/") else ObjectUri(uri.scheme, uri.bucket, uri.key + "/")
    if not folder.key:
        raise ApplicationError("Name the folder to create.", field="uri")
    connection = connection_for_uri(project=project, uri=folder)
    with store_errors(str(folder)):
        return driver_for(connection).write(folder.bucket, folder.key, _Bytes(b""), size=0)
