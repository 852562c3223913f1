"""Object stores for tests: moto's S3 server and a GCS emulator, one of each per test process
(xdist worker), started on first use. A pytest plugin (tests/conftest.py), so every test folder,
the browser tests included, can use them. No fixture uses the database.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from http import HTTPStatus

import boto3
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

# moto accepts any credentials unless told to check them (see test_drivers' S3 credential tests).
S3_KEY_ID, S3_SECRET = "testing-key-id", "testing-secret"


def unique_bucket() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of an in-process moto server (all AWS services, S3 included)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws_client(endpoint: str, service: str = "s3"):
    """A boto3 client of the moto server (S3 or any other service moto has)."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )


@pytest.fixture(scope="session")
def s3_bucket_factory(s3_endpoint) -> Callable[[str], str]:
    """create(name) -> name, a new bucket on the moto server."""
    client = aws_client(s3_endpoint)

    def create(name: str) -> str:
        client.create_bucket(Bucket=name)
        return name

    return create


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """The URL of an in-memory gcp-storage-emulator, for `GcsDriver(endpoint_url=...)` (or
    STORAGE_EMULATOR_HOST) with anonymous credentials: the emulator checks none."""
    from gcp_storage_emulator.server import create_server

    _page_emulator_listings()
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def gcs_client(endpoint: str) -> storage.Client:
    return storage.Client(
        project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
    )


@pytest.fixture(scope="session")
def gcs_bucket_factory(gcs_endpoint) -> Callable[[str], str]:
    """create(name) -> name, a new bucket on the GCS emulator."""
    client = gcs_client(gcs_endpoint)

    def create(name: str) -> str:
        client.create_bucket(name)
        return name

    return create


def _page_emulator_listings() -> None:
    """The emulator answers a listing whole, ignoring maxResults and pageToken. Page its answers as
    GCS does (objects and prefixes together, in name order), so the driver's paging is exercised."""
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    original = objects.ls
    if getattr(original, "paged", False):
        return

    def paged_ls(request, response, storage_):
        original(request, response, storage_)
        if response.status != HTTPStatus.OK:
            return
        listing = json.loads(response._content)
        entries = [(item["name"], item) for item in listing.get("items") or []]
        entries += [(prefix, None) for prefix in listing.get("prefixes") or []]
        token = (request.query.get("pageToken") or [None])[0]
        size = int((request.query.get("maxResults") or [1000])[0])
        entries = sorted((e for e in entries if token is None or e[0] > token), key=lambda e: e[0])
        page = entries[:size]
        listing["items"] = [item for _, item in page if item is not None]
        listing["prefixes"] = [name for name, item in page if item is None]
        if len(entries) > size:
            listing["nextPageToken"] = page[-1][0]
        response.json(listing)

    paged_ls.paged = True
    objects.ls = paged_ls
    for _, handlers in server.HANDLERS:
        for method, handler in handlers.items():
            if handler is original:
                handlers[method] = paged_ls
