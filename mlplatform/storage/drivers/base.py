"""The interface every object-storage driver implements (s3, gcs, local).

Drivers know nothing about projects or permissions: `mlplatform.storage.services` decides
who may reach which bucket, then calls a driver built from a StorageConnection.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024


class StorageError(Exception):
    """A failure of the store, with a message a user can act on."""


class ObjectNotFound(StorageError):
    pass


class BucketNotFound(StorageError):
    pass


class AccessDenied(StorageError):
    """The store refused the connection's credentials."""


class InvalidName(StorageError):
    """The store cannot hold an object by that name (a name too long, or one under an object)."""


class StorageUnavailable(StorageError):
    """The store cannot be reached (network, endpoint, timeout)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    updated: datetime | None = None
    content_type: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class ListPage:
    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)  # "folders", each ending with '/'
    next_page_token: str | None = None


class StorageDriver(abc.ABC):
    """Operations on one store. Keys never start with '/'. Reads and writes are streams."""

    @abc.abstractmethod
    def list(
        self, bucket: str, prefix: str = "", *, page_size: int = 1000, page_token: str | None = None
    ) -> ListPage:
        """Objects and sub-prefixes directly under `prefix` ('/' is the delimiter)."""

    @abc.abstractmethod
    def stat(self, bucket: str, key: str) -> ObjectInfo:
        """Raises ObjectNotFound."""

    @abc.abstractmethod
    def read(self, bucket: str, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks, without loading it whole. Raises ObjectNotFound."""

    @abc.abstractmethod
    def write(
        self,
        bucket: str,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Store the stream as the object. All or nothing: when reading the stream or the
        upload fails, no object (and no partial object) is left behind."""

    @abc.abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Raises ObjectNotFound."""

    @abc.abstractmethod
    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str) -> ObjectInfo:
        """Copy within the same store. Raises ObjectNotFound."""

    def download_url(self, bucket: str, key: str, *, expires_in: int = 3600) -> str | None:
        """A time-limited URL to download the object directly, where the store supports one."""
        return None

    @abc.abstractmethod
    def check_bucket(self, bucket: str) -> None:
        """Raises BucketNotFound, AccessDenied or StorageUnavailable."""


class FullReads:
    """An upload stream read in full blocks (a short read would end a GCS resumable upload early,
    or make an undersized S3 part) and at most `size` bytes of it, with the tell() uploads need.
    Raises StorageError when it ends before `size` bytes, before the store is told the upload is
    complete: no truncated object."""

    def __init__(self, stream: BinaryIO, size: int | None):
        self._stream, self._size, self._read = stream, size, 0

    def tell(self) -> int:
        return self._read

    def read(self, amount: int | None = -1) -> bytes:
        want = -1 if amount is None or amount < 0 else amount
        if self._size is not None:
            left = self._size - self._read
            want = left if want < 0 else min(want, left)
        chunks, got = [], 0
        while want < 0 or got < want:
            chunk = self._stream.read(CHUNK_SIZE if want < 0 else want - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        self._read += got
        if self._size is not None and got < want:
            raise StorageError(f"The upload ended after {self._read} of its {self._size} bytes.")
        return b"".join(chunks)
