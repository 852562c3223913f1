"""Buckets as folders on this machine: bucket `b` is `root/b`, object `x/y` is the file `root/b/x/y`.

Paths are walked one folder at a time from the bucket's folder through file descriptors opened
with O_NOFOLLOW, so neither '..' nor a symlink (even one swapped in meanwhile) leads outside it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat as st
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from mlplatform.storage.drivers.base import (
    CHUNK_SIZE,
    AccessDenied,
    BucketNotFound,
    InvalidName,
    ListPage,
    ObjectInfo,
    ObjectNotFound,
    StorageDriver,
    StorageError,
)
from mlplatform.storage.uris import object_name_ok

TEMP_PREFIX = ".upload-"  # uploads in progress, at the top of the bucket's folder; never listed
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LocalDriver(StorageDriver):
    """Objects in folders under `root`; a folder marker (a key ending in '/') is a folder.

    Keys that are absolute, have '.', '..' or empty segments, or reach a symlink are refused with
    AccessDenied; symlinks and other non-files already in a bucket are never listed.
    """

    def __init__(self, *, root: Path):
        self.root = Path(root)

    def create_bucket(self, bucket: str) -> None:
        """Make the bucket's folder (and `root`) when missing."""
        (self.root / _bucket_name(bucket)).mkdir(parents=True, exist_ok=True)

    def check_bucket(self, bucket: str) -> None:
        """Raises BucketNotFound when `root/bucket` is not a folder."""
        os.close(self._open_bucket(bucket))

    def list(
        self, bucket: str, prefix: str = "", *, page_size: int = 1000, page_token: str | None = None
    ) -> ListPage:
        """Sorted by key; a page token is the last key of the page before."""
        if prefix.startswith("/"):
            raise AccessDenied(f"'{prefix}' is not a valid prefix (absolute).")
        folder, _, start = prefix.rpartition("/")
        base = folder + "/" if folder else ""
        entries: dict[str, ObjectInfo | None] = {}  # key: info, or folder: None
        try:
            with (
                self._folder(bucket, _segments(base) if folder else [], prefix) as fd,
                os.scandir(fd) as scan,
            ):
                for entry in scan:
                    if not entry.name.startswith(start) or (
                        not folder and entry.name.startswith(TEMP_PREFIX)
                    ):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        entries[base + entry.name + "/"] = None
                    elif entry.is_file(follow_symlinks=False):
                        entries[base + entry.name] = _info(
                            base + entry.name, entry.stat(follow_symlinks=False)
                        )
        except ObjectNotFound:
            pass  # as in a store, a prefix that nothing is under lists empty
        keys = sorted(key for key in entries if page_token is None or key > page_token)
        page = keys[:page_size]
        return ListPage(
            objects=[info for key in page if (info := entries[key])],
            prefixes=[key for key in page if entries[key] is None],
            next_page_token=page[-1] if len(keys) > page_size else None,
        )

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        parts = _segments(key)
        with self._folder(bucket, parts[:-1], key) as fd:
            info = _lstat(fd, parts[-1], bucket, key)
        if st.S_ISDIR(info.st_mode) if key.endswith("/") else st.S_ISREG(info.st_mode):
            return _info(key, info)
        raise _missing(bucket, key)

    def read(self, bucket: str, key: str) -> Iterator[bytes]:
        """Raises ObjectNotFound here, before the first chunk."""
        return _chunks(self._open(bucket, key))

    def write(
        self,
        bucket: str,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Streams into a hidden file in the bucket's folder, then renames it into place: readers see
        the old object or the new one, never part of one. An error the stream raises propagates
        unchanged; a stream that ends before `size` bytes raises StorageError; nothing is left either
        way. A key ending in '/' makes a folder. content_type is not kept."""
        parts = _segments(key)
        if key.endswith("/"):
            with self._folder(bucket, parts, key, create=True):
                pass
            return self.stat(bucket, key)
        if parts[0].startswith(TEMP_PREFIX):
            raise AccessDenied(f"Object names may not start with '{TEMP_PREFIX}'.")
        bucket_fd = self._open_bucket(bucket)
        temp = f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with _os_errors(bucket, key):
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                file = os.fdopen(os.open(temp, flags, 0o644, dir_fd=bucket_fd), "wb")
            with file:
                written = _copy(stream, file, size, bucket, key)
            if size is not None and written < size:
                raise StorageError(f"The upload ended after {written} of its {size} bytes.")
            with self._folder(bucket, parts[:-1], key, create=True) as parent, _os_errors(bucket, key):
                _refuse_symlink(parent, parts[-1], key)
                os.replace(temp, parts[-1], src_dir_fd=bucket_fd, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=bucket_fd)
            raise
        finally:
            os.close(bucket_fd)
        return self.stat(bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        """A folder marker's folder goes only when empty (its contents would keep it in a store too)."""
        self.stat(bucket, key)
        parts = _segments(key)
        with self._folder(bucket, parts[:-1], key) as fd, _os_errors(bucket, key):
            if not key.endswith("/"):
                os.unlink(parts[-1], dir_fd=fd)
                return
            try:
                os.rmdir(parts[-1], dir_fd=fd)
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:
                    raise

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str) -> ObjectInfo:
        if key.endswith("/"):  # a folder marker: an empty object
            self.stat(bucket, key)
            return self.write(to_bucket, to_key, io.BytesIO(), size=0)
        with self._open(bucket, key) as file:
            return self.write(to_bucket, to_key, file, size=os.fstat(file.fileno()).st_size)

    def _open(self, bucket: str, key: str) -> BinaryIO:
        """The object's file, open for reading; a folder marker reads as empty."""
        if key.endswith("/"):
            self.stat(bucket, key)
            return io.BytesIO()
        parts = _segments(key)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # no waiting on a FIFO swapped in
        with self._folder(bucket, parts[:-1], key) as fd, _os_errors(bucket, key):
            file = os.fdopen(os.open(parts[-1], flags, dir_fd=fd), "rb")
        if not st.S_ISREG(os.fstat(file.fileno()).st_mode):
            file.close()
            raise _missing(bucket, key)
        return file

    def _open_bucket(self, bucket: str) -> int:
        path = self.root / _bucket_name(bucket)
        try:
            return os.open(path, _DIR)
        except OSError as exc:
            if path.is_symlink():
                raise AccessDenied(f"Bucket '{bucket}' is a symbolic link, which is not followed.") from exc
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise BucketNotFound(f"Bucket '{bucket}' does not exist.") from exc
            raise _error(exc, bucket) from exc

    @contextlib.contextmanager
    def _folder(self, bucket: str, parts: list[str], key: str, *, create: bool = False) -> Iterator[int]:
        """A descriptor of the bucket's folder `parts` (on the way to `key`), entered one segment at a
        time (made, with `create`). Raises ObjectNotFound when missing, AccessDenied for a symlink."""
        fd = self._open_bucket(bucket)
        try:
            for depth, part in enumerate(parts, 1):
                path = "/".join(parts[:depth]) + "/"
                if create:
                    try:
                        os.mkdir(part, dir_fd=fd)
                    except FileExistsError:
                        pass
                    except OSError as exc:
                        raise _error(exc, bucket, key) from exc
                try:
                    child = os.open(part, _DIR, dir_fd=fd)
                except OSError as exc:
                    _refuse_symlink(fd, part, path)
                    if create and exc.errno == errno.ENOTDIR:
                        raise InvalidName(
                            f"'{path[:-1]}' is an object in bucket '{bucket}', not a folder."
                        ) from exc
                    raise _error(exc, bucket, key) from exc
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)


def _bucket_name(bucket: str) -> str:
    if not bucket or bucket.startswith(".") or "/" in bucket or "\x00" in bucket:
        raise AccessDenied(f"'{bucket}' is not a bucket name.")
    return bucket


def _segments(key: str) -> list[str]:
    """The key's folder names and last name (of a file, or of a folder when it ends in '/')."""
    if not key or not object_name_ok(key):
        raise AccessDenied(f"{key!r} is not a valid object name (absolute, or '.', '..' or empty segments).")
    return key.removesuffix("/").split("/")


def _lstat(fd: int, name: str, bucket: str, key: str) -> os.stat_result:
    with _os_errors(bucket, key):
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    if st.S_ISLNK(info.st_mode):
        raise AccessDenied(f"'{key}' is a symbolic link, which local buckets do not follow.")
    return info


def _refuse_symlink(fd: int, name: str, key: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if st.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            raise AccessDenied(f"'{key}' is a symbolic link, which local buckets do not follow.")


def _missing(bucket: str, key: str) -> ObjectNotFound:
    return ObjectNotFound(f"There is no object '{key}' in bucket '{bucket}'.")


def _error(exc: OSError, bucket: str, key: str | None = None) -> StorageError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR) and key is not None:
        return _missing(bucket, key)
    where = f"'{key}' in bucket '{bucket}'" if key is not None else f"bucket '{bucket}'"
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidName(f"{where} has a folder or file name longer than this server's limit (255 bytes).")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.ELOOP):
        return AccessDenied(f"This server may not open {where}.")
    return StorageError(f"Cannot use {where}: {exc.strerror}.")


@contextlib.contextmanager
def _os_errors(bucket: str, key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _error(exc, bucket, key) from exc


def _info(key: str, info: os.stat_result) -> ObjectInfo:
    size = 0 if st.S_ISDIR(info.st_mode) else info.st_size
    return ObjectInfo(
        key=key,
        size=size,
        updated=datetime.fromtimestamp(info.st_mtime, tz=UTC),
        etag=f"{info.st_mtime_ns:x}-{size:x}",
    )


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk


def _copy(stream: BinaryIO, file: BinaryIO, size: int | None, bucket: str, key: str) -> int:
    """Copy at most `size` bytes (all, when None) and sync them to disk; returns how many. Errors of
    the stream propagate as they are, those of the file system as StorageErrors."""
    written = 0
    while size is None or written < size:
        chunk = stream.read(CHUNK_SIZE if size is None else min(CHUNK_SIZE, size - written))
        if not chunk:
            break
        with _os_errors(bucket, key):
            file.write(chunk)
        written += len(chunk)
    with _os_errors(bucket, key):
        file.flush()
        os.fsync(file.fileno())
    return written
