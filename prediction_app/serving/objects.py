"""Objects as a batch worker reads and writes them: a byte range streamed from its start, a whole
object downloaded, a finished local file committed under its name in one step, and a listing.

Local buckets (the folder $MLPLATFORM_LOCAL_BUCKETS/<bucket>) are files; gs:// and s3:// go through
the trainer runtime's clients (the storage wiring's variables), so the predictor, the trainer and the
batch worker reach a store the same way. A commit is a rename (local) or one upload of the finished
file (GCS, S3: an object appears whole or not at all), so no reader ever sees half a shard.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

# The trainer runtime's store clients: one file of the standard library, no Django.
from training_app.runtime import trainer

URI = re.compile(r"(gs|s3)://([^/]+)/(.*)")
CHUNK_BYTES = 1 << 20


class StoreError(Exception):
    """An object cannot be read or written: the worker fails (and is retried)."""


def _parts(uri: str) -> tuple[str, str, str]:
    match = URI.fullmatch(uri)
    if not match:
        raise StoreError(f"'{uri}' is not an object URI such as gs://bucket/key")
    return match.group(1), match.group(2), match.group(3)


def local_path(uri: str) -> Path | None:
    """The file of `uri` in a local bucket, or None where its bucket is not local."""
    _, bucket, key = _parts(uri)
    buckets = os.environ.get("MLPLATFORM_LOCAL_BUCKETS")
    if not buckets or not (Path(buckets) / bucket).is_dir():
        return None
    root = Path(buckets) / bucket
    path = root.joinpath(*key.split("/")) if key else root
    real, top = os.path.realpath(path), os.path.realpath(root)
    if real != top and not real.startswith(top + os.sep):
        raise StoreError(f"'{uri}' leaves its bucket")
    return path


def read_from(uri: str, start: int) -> Iterator[bytes]:
    """The object's bytes from `start` to its end, in chunks, never the whole object at once."""
    path = local_path(uri)
    scheme, bucket, key = _parts(uri)
    try:
        if path is not None:
            with open(path, "rb") as file:
                file.seek(start)
                while chunk := file.read(CHUNK_BYTES):
                    yield chunk
        elif scheme == "gs":
            with trainer.gcs_bucket(bucket).blob(key).open("rb", chunk_size=CHUNK_BYTES) as file:
                file.seek(start)
                while chunk := file.read(CHUNK_BYTES):
                    yield chunk
        else:
            body = trainer.s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-")["Body"]
            yield from body.iter_chunks(CHUNK_BYTES)
    except (OSError, ImportError) as exc:
        raise StoreError(f"cannot read {uri}: {exc}") from None
    except Exception as exc:  # the stores' own error types: imported lazily, so not nameable here
        raise StoreError(f"cannot read {uri}: {trainer.one_line(exc)}") from None


def local_copy(uri: str, folder: Path) -> Path:
    """A local file with the object's bytes: its own file in a local bucket, else a download."""
    path = local_path(uri)
    if path is not None:
        return path
    try:
        return trainer.fetch(uri, folder)
    except trainer.RunnerError as exc:
        raise StoreError(str(exc)) from None


def exists(uri: str) -> bool:
    path = local_path(uri)
    scheme, bucket, key = _parts(uri)
    if path is not None:
        return path.is_file()
    try:
        if scheme == "gs":
            return trainer.gcs_bucket(bucket).blob(key).exists(retry=trainer.gcs_retry())
        listed = trainer.s3_client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in listed.get("Contents", []))
    except Exception as exc:  # the stores' own error types
        raise StoreError(f"cannot look for {uri}: {trainer.one_line(exc)}") from None


def commit(file: Path, uri: str) -> None:
    """`file`, finished, becomes the object `uri` in one step (and is gone from where it was)."""
    path = local_path(uri)
    scheme, bucket, key = _parts(uri)
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                os.replace(file, staged)  # no copy where the bucket shares `file`'s file system
            except OSError:
                shutil.copyfile(file, staged)
            os.replace(staged, path)
        elif scheme == "gs":
            trainer.gcs_bucket(bucket).blob(key).upload_from_filename(str(file), retry=trainer.gcs_retry())
        else:
            trainer.s3_client().upload_file(str(file), bucket, key)
    except Exception as exc:  # OSError, and the stores' own error types
        raise StoreError(f"cannot write {uri}: {trainer.one_line(exc)}") from None
    file.unlink(missing_ok=True)
