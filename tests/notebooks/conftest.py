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


@pytest.fixture
def cluster(kube, settings, tmp_path, monkeypatch):
    """The Kubernetes backend on the API test server, named by a kubeconfig as a cluster would be;
    the console reaches notebooks through the API server's service proxy, as from outside one."""
    from mlplatform.compute import backends
    from tests.kube import kubeconfig

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", kube.url)))
    settings.COMPUTE_BACKEND = "kubernetes"
    settings.KUBERNETES_SERVICE_ACCESS = "api-server"
    backends.get_backend.cache_clear()
    yield kube
    backends.get_backend.cache_clear()
