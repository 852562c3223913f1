"""Amazon S3 and S3-compatible stores (MinIO, Ceph, moto), through boto3."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import BinaryIO

import boto3
import botocore.loaders
import botocore.session
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

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

PART_SIZE = 8 * 1024 * 1024
# Bigger uploads go in parts; a failed multipart upload is aborted by s3transfer, leaving nothing.
TRANSFER = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=4)

# Sessions are not thread-safe, so each driver has its own; sharing the loader of the API's
# description spares each new client parsing it again (~100 ms).
_LOADER = botocore.loaders.create_loader()

_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
_DENIED |= {"AllAccessDisabled", "InvalidToken", "ExpiredToken", "AccountProblem"}
_MISSING_OBJECT = {"NoSuchKey", "404", "NotFound"}


class S3Driver(StorageDriver):
    """Objects in S3 buckets. Every failure of the store is raised as one of base's StorageErrors."""

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        region: str | None,
        access_key_id: str,
        secret_access_key: str,
        path_style: bool = True,
    ):
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        session = botocore.session.Session()
        session.register_component("data_loader", _LOADER)
        self._client = boto3.session.Session(botocore_session=session).client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        self._endpoint = endpoint_url or "AWS S3"

    def list(
        self, bucket: str, prefix: str = "", *, page_size: int = 1000, page_token: str | None = None
    ) -> ListPage:
        """Raises BucketNotFound."""
        args = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": page_size}
        if page_token:
            args["ContinuationToken"] = page_token
        with self._errors(bucket):
            response = self._client.list_objects_v2(**args)
        return ListPage(
            objects=[
                ObjectInfo(key=o["Key"], size=o["Size"], updated=o.get("LastModified"), etag=_etag(o))
                for o in response.get("Contents", [])
            ],
            prefixes=[p["Prefix"] for p in response.get("CommonPrefixes", [])],
            next_page_token=response.get("NextContinuationToken") if response.get("IsTruncated") else None,
        )

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        with self._errors(bucket, key):
            head = self._client.head_object(Bucket=bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            updated=head.get("LastModified"),
            content_type=head.get("ContentType"),
            etag=_etag(head),
        )

    def read(self, bucket: str, key: str) -> Iterator[bytes]:
        """Raises ObjectNotFound (or BucketNotFound) here, before the first chunk."""
        with self._errors(bucket, key):
            body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
        return self._chunks(body, bucket, key)

    def _chunks(self, body, bucket: str, key: str) -> Iterator[bytes]:
        try:
            with self._errors(bucket, key):
                yield from body.iter_chunks(CHUNK_SIZE)
        finally:
            body.close()

    def write(
        self,
        bucket: str,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Streams in 8 MiB parts. An error the stream raises propagates unchanged; a stream that ends
        before `size` bytes raises StorageError. Either way the upload is aborted and nothing is stored."""
        extra = {"ContentType": content_type} if content_type else None
        with self._errors(bucket, key):
            self._client.upload_fileobj(
                FullReads(stream, size), bucket, key, ExtraArgs=extra, Config=TRANSFER
            )
        return self.stat(bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        """Raises ObjectNotFound (S3 itself says nothing when deleting a missing key)."""
        self.stat(bucket, key)
        with self._errors(bucket, key):
            self._client.delete_object(Bucket=bucket, Key=key)

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str) -> ObjectInfo:
        """Server-side; objects over 8 MiB are copied in parts (copy_object alone stops at 5 GB)."""
        with self._errors(bucket, key):
            self._client.copy({"Bucket": bucket, "Key": key}, to_bucket, to_key, Config=TRANSFER)
        return self.stat(to_bucket, to_key)

    def download_url(self, bucket: str, key: str, *, expires_in: int = 3600) -> str | None:
        """A presigned GET URL; signing is local, so this neither checks nor reaches the object."""
        with self._errors(bucket, key):
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
            )

    def check_bucket(self, bucket: str) -> None:
        with self._errors(bucket):
            self._client.head_bucket(Bucket=bucket)

    @contextlib.contextmanager
    def _errors(self, bucket: str, key: str | None = None) -> Iterator[None]:
        """Turn botocore's failures into StorageErrors whose messages name the bucket and key only."""
        where = f"'{key}' in bucket '{bucket}'" if key is not None else f"bucket '{bucket}'"
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchBucket" or (code in _MISSING_OBJECT and key is None):
                missing = error.get("BucketName", bucket)  # a copy's target, perhaps
                raise BucketNotFound(f"Bucket '{missing}' does not exist.") from exc
            if code in _MISSING_OBJECT:
                raise ObjectNotFound(f"There is no object {where}.") from exc
            if code in _DENIED:
                raise AccessDenied(
                    f"The store refused access to {where} ({code}): check the access key, the secret and "
                    "the permissions they grant."
                ) from exc
            raise StorageError(f"The store failed on {where} ({code or 'unknown error'}).") from exc
        except (BotoConnectionError, HTTPClientError) as exc:
            raise StorageUnavailable(f"Cannot reach {self._endpoint} for {where}: {exc}") from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise StorageError(f"The request for {where} failed: {exc}") from exc


def _etag(response: dict) -> str | None:
    return response.get("ETag", "").strip('"') or None
