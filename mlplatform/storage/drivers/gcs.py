"""Google Cloud Storage (and its emulators), through google-cloud-storage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import BinaryIO

import requests
from google.api_core import exceptions as api
from google.api_core.retry import Retry
from google.auth import exceptions as auth_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from mlplatform.storage.drivers.base import (
    CHUNK_SIZE,
    AccessDenied,
    BucketNotFound,
    FullReads,
    ListPage,
    ObjectInfo,
    ObjectNotFound,
    StorageDriver,
    StorageError,
    StorageUnavailable,
)

# Above this an upload is resumable and sent in chunks of this size (a multiple of 256 KiB).
UPLOAD_CHUNK_SIZE = 8 * 1024 * 1024
# Like the S3 driver's: give up on an unreachable store within seconds, not the library's two minutes.
RETRY: Retry = DEFAULT_RETRY.with_timeout(20.0)
TIMEOUT = (5, 60)  # connect, read


class GcsDriver(StorageDriver):
    """Objects in GCS buckets. Every failure of the store is raised as one of base's StorageErrors.

    Without `service_account_info` the client is anonymous (emulators, public buckets) and
    download_url() returns None, since a signed URL needs a service account's key.
    """

    def __init__(
        self, *, endpoint_url: str | None, service_account_info: dict | None, project: str | None = None
    ):
        if service_account_info:
            self._credentials = service_account.Credentials.from_service_account_info(service_account_info)
            project = project or service_account_info.get("project_id")
        else:
            self._credentials = None
        self._endpoint = endpoint_url
        self._client = storage.Client(
            project=project,  # None: no project is looked up; object operations do not need one
            credentials=self._credentials or AnonymousCredentials(),
            client_options={"api_endpoint": endpoint_url} if endpoint_url else None,
        )

    def list(
        self, bucket: str, prefix: str = "", *, page_size: int = 1000, page_token: str | None = None
    ) -> ListPage:
        """Raises BucketNotFound."""
        with self._errors(bucket):
            pages = self._client.list_blobs(
                bucket,
                prefix=prefix or None,
                delimiter="/",
                max_results=page_size,
                page_token=page_token,
                retry=RETRY,
                timeout=TIMEOUT,
            )
            page = next(pages.pages)
            objects = [_info(blob) for blob in page]  # the page's prefixes are known once it is consumed
        return ListPage(
            objects=objects, prefixes=sorted(page.prefixes), next_page_token=pages.next_page_token
        )

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        return _info(self._blob(bucket, key))

    def read(self, bucket: str, key: str) -> Iterator[bytes]:
        """Raises ObjectNotFound here, before the first chunk; later chunks are ranged downloads."""
        return self._chunks(self._blob(bucket, key))

    def _chunks(self, blob: storage.Blob) -> Iterator[bytes]:
        with self._errors(blob.bucket.name, blob.name):
            for start in range(0, blob.size or 0, CHUNK_SIZE):
                # Pinned to the generation stat'ed: an overwrite mid-read fails instead of mixing versions;
                # raw: ranges are over the stored bytes; a range has no checksum of its own.
                yield blob.download_as_bytes(
                    start=start,
                    end=min(start + CHUNK_SIZE, blob.size) - 1,
                    if_generation_match=blob.generation,
                    raw_download=True,
                    checksum=None,
                    retry=RETRY,
                    timeout=TIMEOUT,
                )

    def write(
        self,
        bucket: str,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Up to 8 MiB of known size in one request, else a resumable upload in 8 MiB chunks, which GCS
        makes an object only when the last one arrives. An error the stream raises propagates unchanged;
        a stream that ends before `size` bytes raises StorageError; nothing is stored either way."""
        blob = self._client.bucket(bucket).blob(key, chunk_size=UPLOAD_CHUNK_SIZE)
        with self._errors(bucket, key):
            blob.upload_from_file(
                FullReads(stream, size), size=size, content_type=content_type, timeout=TIMEOUT
            )
        return _info(blob)

    def delete(self, bucket: str, key: str) -> None:
        with self._errors(bucket, key):
            self._client.bucket(bucket).blob(key).delete(retry=RETRY, timeout=TIMEOUT)

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str) -> ObjectInfo:
        """Server-side rewrite, repeated until done (big objects take several calls). Raises
        ObjectNotFound for the source, BucketNotFound for the target's bucket."""
        source = self._blob(bucket, key)
        target = self._client.bucket(to_bucket).blob(to_key)
        with self._errors(to_bucket):  # the source was there: a 404 now is about the target's bucket
            token, _, _ = target.rewrite(source, timeout=TIMEOUT)
            while token:
                token, _, _ = target.rewrite(source, token=token, timeout=TIMEOUT)
        return _info(target)

    def download_url(self, bucket: str, key: str, *, expires_in: int = 3600) -> str | None:
        """A V4 signed GET URL, signed locally with the service account's key; None without one."""
        if self._credentials is None:
            return None
        return (
            self._client.bucket(bucket)
            .blob(key)
            .generate_signed_url(
                version="v4",
                expiration=timedelta(seconds=expires_in),
                method="GET",
                credentials=self._credentials,
                api_access_endpoint=self._endpoint,  # None: storage.googleapis.com
            )
        )

    def check_bucket(self, bucket: str) -> None:
        # Listing needs only object permissions; reading the bucket's metadata needs more.
        self.list(bucket, page_size=1)

    def _blob(self, bucket: str, key: str) -> storage.Blob:
        with self._errors(bucket, key):
            blob = self._client.bucket(bucket).get_blob(key, retry=RETRY, timeout=TIMEOUT)
        if blob is None:
            raise ObjectNotFound(f"There is no object '{key}' in bucket '{bucket}'.")
        return blob

    @contextlib.contextmanager
    def _errors(self, bucket: str, key: str | None = None) -> Iterator[None]:
        """Turn the client's failures into StorageErrors whose messages name the bucket and key only."""
        where = f"'{key}' in bucket '{bucket}'" if key is not None else f"bucket '{bucket}'"
        try:
            yield
        except api.NotFound as exc:
            if key is None:
                raise BucketNotFound(f"Bucket '{bucket}' does not exist.") from exc
            raise ObjectNotFound(f"There is no object {where} (or no such bucket).") from exc
        except (api.Forbidden, api.Unauthorized, auth_errors.RefreshError) as exc:
            raise AccessDenied(
                f"The store refused access to {where}: check the service account and the roles it has."
            ) from exc
        except (
            api.ServerError,
            api.RetryError,
            auth_errors.TransportError,
            requests.ConnectionError,
            requests.Timeout,
        ) as exc:
            where_to = self._endpoint or "Google Cloud Storage"
            raise StorageUnavailable(f"Cannot reach {where_to} for {where}: {type(exc).__name__}") from exc
        except api.PreconditionFailed as exc:
            raise StorageError(f"{where} changed while it was being read; try again.") from exc
        except api.GoogleAPICallError as exc:
            raise StorageError(f"The store failed on {where}: {exc.message}") from exc


def _info(blob: storage.Blob) -> ObjectInfo:
    return ObjectInfo(
        key=blob.name,
        size=blob.size or 0,
        updated=blob.updated,
        content_type=blob.content_type,
        etag=blob.etag,
    )
