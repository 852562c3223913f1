"""Fixtures for notebooks: the image catalog, the local backend, and the console served over HTTP
(ASGI, so that the proxy's WebSockets work) by uvicorn in a thread of the test process."""

from __future__ import annotations

import pytest


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
