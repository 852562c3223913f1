"""Downloads stream under the console's real server (uvicorn, ASGI): the first bytes arrive before
the store has been read to the end, and a large object is never held whole in memory."""

from __future__ import annotations

import tracemalloc

import pytest
import requests

from mlplatform.core.models import Role
from mlplatform.core.streaming import streaming_response
from mlplatform.storage.services import storage_connection_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_under_asgi_chunks_are_read_only_as_the_client_takes_them():
    pulled = []

    def chunks():
        for i in range(3):
            pulled.append(i)
            yield b"x"

    class AsgiRequest:
        scope = {"type": "http"}

    response = streaming_response(AsgiRequest(), chunks())

    assert response.is_async
    assert pulled == []  # nothing read before the server asks


def test_a_download_through_uvicorn_streams_a_large_object(
    console_url, project, member, token_for, settings, tmp_path
):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    storage_connection_create(project=project, name="local", kind="local", buckets=["demo"])
    folder = tmp_path / "buckets" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    size = 64 * 1024 * 1024
    with open(folder / "big.bin", "wb") as out:
        out.truncate(size)  # sparse: costs no disk
    headers = {"Authorization": f"Bearer {token_for(member(Role.VIEWER))}"}
    url = f"{console_url}/api/projects/team-a/storage/objects/content?uri=gs://demo/big.bin"

    tracemalloc.start()  # the server runs in this process: its allocations are traced too
    try:
        with requests.get(url, headers=headers, stream=True, timeout=30) as response:
            assert response.status_code == 200
            assert response.headers["Content-Length"] == str(size)
            received = sum(len(chunk) for chunk in response.iter_content(1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert received == size
    assert peak < size // 4, f"{peak} bytes held at once for a {size}-byte download"
