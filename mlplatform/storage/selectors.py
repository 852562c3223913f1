"""Reads: which connection serves a URI for a project, and the project's connections."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator

from django.db.models import QuerySet

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.storage.drivers import base
from mlplatform.storage.drivers.factory import driver_for
from mlplatform.storage.models import StorageConnection
from mlplatform.storage.uris import ObjectUri

# Where "test connection" writes its probe objects; never shown as content.
PROBE_PREFIX = ".mlplatform-connection-test/"


def connections_list(*, project: Project) -> QuerySet[StorageConnection]:
    return StorageConnection.objects.filter(project=project).order_by("-is_default", "name")


def connections_named(*, project: Project, names: Collection[str], field: str) -> list[StorageConnection]:
    """The project's connections called `names`; a name it does not have is refused at `field`."""
    found = list(connections_list(project=project).filter(name__in=names))
    if missing := sorted(set(names) - {connection.name for connection in found}):
        raise ApplicationError(
            f"this project has no storage connection {', '.join(repr(name) for name in missing)}.",
            field=field,
        )
    return found


def connection_get(*, project: Project, name: str) -> StorageConnection:
    connection = StorageConnection.objects.filter(project=project, name=name).first()
    if connection is None:
        raise ApplicationError(
            f"No storage connection named '{name}' in '{project.slug}'.", code=ErrorCode.NOT_FOUND
        )
    return connection


def connection_for_uri(*, project: Project, uri: ObjectUri) -> StorageConnection:
    """The project's connection that reaches the URI's bucket; refused (403) otherwise."""
    for connection in StorageConnection.objects.filter(project=project):
        if uri.scheme in connection.schemes and uri.bucket in connection.buckets:
            return connection
    raise ApplicationError(
        f"Bucket '{uri.bucket}' ({uri.scheme}://) is not reachable from project '{project.slug}': "
        "add it to one of the project's storage connections.",
        code=ErrorCode.PERMISSION_DENIED,
        field="uri",
    )


def default_connection(*, project: Project) -> StorageConnection | None:
    return StorageConnection.objects.filter(project=project, is_default=True).first()


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Turn a driver's failure into an ApplicationError that says what failed on `what`."""
    try:
        yield
    except base.ObjectNotFound as exc:
        raise ApplicationError(f"{what} was not found.", code=ErrorCode.NOT_FOUND, field="uri") from exc
    except base.BucketNotFound as exc:
        raise ApplicationError(f"The bucket of {what} does not exist.", code=ErrorCode.NOT_FOUND) from exc
    except base.InvalidName as exc:
        raise ApplicationError(str(exc), field="uri") from exc
    except base.AccessDenied as exc:
        raise ApplicationError(
            f"The store refused access to {what}: {exc}", code=ErrorCode.PERMISSION_DENIED
        ) from exc
    except base.StorageUnavailable as exc:
        raise ApplicationError(f"The store is unreachable: {exc}", code=ErrorCode.UNAVAILABLE) from exc


def objects_list(
    *,
    project: Project,
    uri: ObjectUri,
    page_token: str | None = None,
    page_size: int = 1000,
    starting_with: str = "",
) -> base.ListPage:
    """What is directly under the folder `uri` (objects and sub-folders), of those whose name starts
    with `starting_with` (a prefix search, which every store answers itself)."""
    connection = connection_for_uri(project=project, uri=uri)
    prefix = uri.key if uri.is_prefix else uri.key + "/"
    with store_errors(str(uri)):
        page = driver_for(connection).list(
            uri.bucket, prefix + starting_with, page_size=page_size, page_token=page_token
        )
    # The folder's own marker object and connection-test probes are not content.
    objects = [o for o in page.objects if o.key != prefix]
    prefixes = [p for p in page.prefixes if not p.endswith(PROBE_PREFIX)]
    return base.ListPage(objects=objects, prefixes=prefixes, next_page_token=page.next_page_token)


def object_stat(*, project: Project, uri: ObjectUri) -> base.ObjectInfo:
    connection = connection_for_uri(project=project, uri=uri)
    with store_errors(str(uri)):
        return driver_for(connection).stat(uri.bucket, uri.key)


def object_open(*, project: Project, uri: ObjectUri) -> tuple[base.ObjectInfo, Iterator[bytes]]:
    """The object's metadata and a stream of its bytes; fails before streaming when it is missing."""
    connection = connection_for_uri(project=project, uri=uri)
    driver = driver_for(connection)
    with store_errors(str(uri)):
        info = driver.stat(uri.bucket, uri.key)
    return info, _guarded(driver.read(uri.bucket, uri.key), str(uri))


def _guarded(chunks: Iterator[bytes], what: str) -> Iterator[bytes]:
    with store_errors(what):
        yield from chunks
