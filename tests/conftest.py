"""Shared fixtures: people with roles in a project, and API clients that act as them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import google.oauth2.credentials
import pytest
from googleapiclient import discovery
from rest_framework.test import APIClient

from mlplatform.core.models import Role
from mlplatform.core.services import api_token_create
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytest_plugins = ["tests.stores", "tests.kube", "tests.cluster"]


@pytest.fixture
def project(db):
    return ProjectFactory(slug="team-a", display_name="Team A")


@pytest.fixture
def member(project) -> Callable:
    """member(role) -> a user with that role in `project`."""

    def make(role: Role = Role.EDITOR, username: str | None = None):
        user = UserFactory(**({"username": username} if username else {}))
        MembershipFactory(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def admin_user(member):
    return member(Role.ADMIN, "alice")


@pytest.fixture
def editor(client, member):
    """An editor of `project`, logged in on Django's test `client`."""
    user = member(Role.EDITOR, "erin")
    client.force_login(user)
    return user


@pytest.fixture
def outsider(db):
    return UserFactory(username="mallory")


@pytest.fixture
def staff(db):
    return UserFactory(username="ops", is_staff=True)


@pytest.fixture
def token_for(db) -> Callable[..., str]:
    def make(user, name: str = "test") -> str:
        return api_token_create(user=user, name=name)[1]

    return make


@pytest.fixture
def api(token_for) -> Callable[..., APIClient]:
    """api(user) -> a REST client sending `Authorization: Bearer <a new token of user>`."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, name=f'api-{id(client)}')}")
        return client

    return make


@pytest.fixture
def seeded_catalog(transactional_db):
    """Transactional tests (live servers, real workers) start from a flushed database, which
    the data migration's GPU catalog does not survive: put it back."""
    from mlplatform.quotas.catalog import seed_catalog
    from mlplatform.quotas.models import AcceleratorType, Flavor, MachineType
    from training_app.models import RuntimeVersion
    from training_app.runtimes import seed_runtimes

    if not Flavor.objects.exists():
        seed_catalog(Flavor, AcceleratorType, MachineType)
    seed_runtimes(RuntimeVersion)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Every test user gets a password: a cheap hasher saves half a second each (PBKDF2's rounds
    protect stored passwords, which tests have none of)."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _celery_queue_per_test_process(worker_id):
    """xdist workers share one Redis: each consumes only the tasks it sent itself."""
    from mlplatform.celery import app

    app.conf.task_default_queue = f"tests-{worker_id}"


@contextmanager
def running_celery_worker():
    """A real Celery worker (solo pool, in a thread) over the real broker, consuming this test
    process's own queue, emptied first: no message another test left behind runs here."""
    from celery.contrib.testing.worker import start_worker

    from mlplatform.celery import app

    app.loader.import_default_modules()
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


@pytest.fixture
def celery_worker(seeded_catalog):
    with running_celery_worker() as worker:
        yield worker


@pytest.fixture
def google_api(live_server, token_for, seeded_catalog) -> Callable:
    """google_api(user, "ml", "v1") -> the real googleapiclient, pointed at the live console."""

    def build(user, api: str = "ml", version: str = "v1", token: str | None = None):
        credentials = google.oauth2.credentials.Credentials(token or token_for(user, name=f"g-{api}"))
        return discovery.build(
            api,
            version,
            credentials=credentials,
            static_discovery=True,
            client_options={"api_endpoint": live_server.url + "/"},
            cache_discovery=False,
        )

    return build


@pytest.fixture
def local_compute(settings, tmp_path):
    """The local backend (the embedded default's) under a fresh data folder, without GPUs; no
    process it started (a JupyterLab, a trainer) outlives the test, failed or not."""
    from mlplatform.compute import backends

    settings.DATA_DIR = tmp_path
    settings.COMPUTE_BACKEND = "local"
    settings.LOCAL_GPUS = "0"  # whatever this machine has: CPU workloads only
    backends.get_backend.cache_clear()
    backend = backends.get_backend()
    yield backend
    backend.collect_garbage(set())
    backends.get_backend.cache_clear()


@pytest.fixture
def machine_gpus(settings) -> Callable[[int], None]:
    """machine_gpus(n): the default backend is the local one on a machine with n GPUs, as forms
    and submits see it (LOCAL_GPUS stands in for nvidia-smi, which this machine lacks)."""
    from mlplatform.compute import backends

    def give(count: int) -> None:
        settings.COMPUTE_BACKEND = "local"
        settings.LOCAL_GPUS = str(count)
        backends.get_backend.cache_clear()

    yield give
    backends.get_backend.cache_clear()


@pytest.fixture(scope="module")
def console_url():
    """http://127.0.0.1:PORT serving mlplatform.asgi.application under uvicorn, as the console runs:
    the notebook proxy and Django (for what only ASGI shows, such as streaming)."""
    import uvicorn

    from mlplatform.asgi import application, notebook_proxy
    from tests.background import uvicorn_serving
    from tests.stores import free_port

    port = free_port()
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    with uvicorn_serving(config):
        yield f"http://127.0.0.1:{port}"
        notebook_proxy.forget()
