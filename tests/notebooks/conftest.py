"""Fixtures for notebooks: the image catalog, the local backend, and the console served over HTTP
(ASGI, so that the proxy's WebSockets work) by uvicorn in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn


@pytest.fixture
def images(db):
    """The seeded image catalog, put back after a transactional flush (request seeded_catalog first
    there, for the GPU flavors the CUDA image is for)."""
    from mlplatform.quotas.models import Flavor
    from notebooks_app.images import seed_images
    from notebooks_app.models import NotebookImage

    seed_images(NotebookImage, Flavor)
    return NotebookImage.objects.all()


@pytest.fixture
def notebook_compute(local_compute):
    """The local backend under a fresh data folder, without GPUs (tests/conftest.py)."""
    return local_compute


@pytest.fixture(scope="module")
def console_url():
    """http://127.0.0.1:PORT serving mlplatform.asgi.application: the proxy and Django."""
    from mlplatform.asgi import application, notebook_proxy

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    notebook_proxy.forget()
    server.should_exit = True
    thread.join(timeout=10)
