"""Object URIs: `s3://bucket/key`, `gs://bucket/key`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlplatform.core.errors import ApplicationError

SCHEMES = ("s3", "gs")
# The rules S3 and GCS share for bucket names (GCS also allows '_', S3 dots; both allowed here).
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]\Z")
_FORBIDDEN = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True)
class ObjectUri:
    scheme: str
    bucket: str
    key: str = ""

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"

    @property
    def is_prefix(self) -> bool:
        """Whether the URI names a folder (ends with '/' or is the bucket itself)."""
        return self.key == "" or self.key.endswith("/")

    def child(self, name: str) -> ObjectUri:
        return ObjectUri(self.scheme, self.bucket, self.key + name)

    @property
    def parent(self) -> ObjectUri:
        stripped = self.key.rstrip("/")
        return ObjectUri(
            self.scheme, self.bucket, stripped.rsplit("/", 1)[0] + "/" if "/" in stripped else ""
        )


def object_name_ok(key: str) -> bool:
    """The one rule for object names (a key, or a folder's ending in '/'): no '.', '..' or empty
    segments (so none starts with '/'), and no CR, LF (which GCS refuses too) or NUL."""
    segments = key.removesuffix("/").split("/") if key else []
    return not any(part in ("", ".", "..") for part in segments) and not _FORBIDDEN.search(key)


def parse_uri(value: str, *, field: str = "uri") -> ObjectUri:
    """Parse and check an object URI; refuses other schemes, bad bucket names and traversal."""
    match = re.fullmatch(r"([a-z0-9]+)://([^/]*)/?(.*)", value or "", flags=re.DOTALL)
    if not match:
        raise ApplicationError(f"'{value}' is not an object URI such as gs://bucket/path.", field=field)
    scheme, bucket, key = match.groups()
    if scheme not in SCHEMES:
        raise ApplicationError(f"Scheme '{scheme}://' is not supported; use s3:// or gs://.", field=field)
    if not BUCKET.match(bucket):
        raise ApplicationError(f"'{bucket}' is not a valid bucket name.", field=field)
    if not object_name_ok(key):
        raise ApplicationError(
            f"{key!r} is not a valid object name (no '.', '..' or empty segments, no CR, LF or NUL).",
            field=field,
        )
    if len(key.encode()) > 1024:
        raise ApplicationError("Object names are at most 1024 bytes.", field=field)
    return ObjectUri(scheme, bucket, key)
