"""What the benchmarks that go through the whole console share: a scratch database on the local
backend, a project with an editor and their token, and the console served by uvicorn as runconsole
serves it, in its own process (benchmarks/notebooks.py and benchmarks/prediction.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

POLL_SECONDS = 0.05


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """Django set up on the local backend, a DATA_DIR of its own and a test database on the server
    of DATABASE_URL (else a throwaway embedded one); yields that database's URL, for the console."""
    sys.path.insert(0, os.getcwd())
    data = tempfile.mkdtemp(prefix=prefix)
    os.environ.update(DATA_DIR=data, COMPUTE_BACKEND="local", LOCAL_GPUS="0", LOG_LEVEL="WARNING")
    import tests.engines  # noqa: F401 - DATABASE_URL and REDIS_URL, else embedded servers

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield database_url(os.environ["DATABASE_URL"], name)
    finally:
        connection.close()
        connection.creation.destroy_test_db(name, verbosity=0)
        shutil.rmtree(data, ignore_errors=True)


def editor(slug: str):
    """Project `slug` with CPU quota for 16 cores, and its editor: (project, user, bearer token)."""
    from django.contrib.auth import get_user_model

    from mlplatform.core.models import Membership, Project, Role
    from mlplatform.core.services import api_token_create
    from mlplatform.quotas.models import Flavor, ProjectQuota

    project = Project.objects.create(slug=slug)
    user = get_user_model().objects.create(username=slug)
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    ProjectQuota.objects.create(
        project=project, flavor=Flavor.objects.get(name="cpu"), nominal_cpu=16, nominal_memory_gib=64
    )
    return project, user, api_token_create(user=user, name=slug)[1]


class console:  # noqa: N801 - used as a context manager
    """uvicorn serving mlplatform.asgi as runconsole does, in its own process, on the scratch database;
    the tasks it queues go to `queue` (the one the benchmark's worker consumes)."""

    def __init__(self, database_url: str, queue: str):
        self.database_url = database_url
        self.queue = queue

    def __enter__(self) -> str:
        from mlplatform.core.management.commands.runconsole import web_server_options

        port = free_port()
        env = {**os.environ, "DATABASE_URL": self.database_url}
        options = web_server_options(host="127.0.0.1", port=port)
        serve = (
            "import os, uvicorn.main; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mlplatform.settings');"
            f"from mlplatform.celery import app; app.conf.task_default_queue = {self.queue!r};"
            f"uvicorn.main.main({options!r})"
        )
        # The access log goes where runconsole's would, less the terminal: the JSON stays readable.
        self.process = subprocess.Popen([sys.executable, "-c", serve], env=env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/healthz", {}, any_status=True)
        return url

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def wait_for(
    url: str, headers: dict, *, session=None, any_status: bool = False, timeout: float = 120
) -> None:
    """Until a GET of `url` answers 200 (any answer with any_status); RuntimeError after `timeout`."""
    import requests

    session = session or requests.Session()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if session.get(url, headers=headers, timeout=5).status_code == 200 or any_status:
                return
        except requests.ConnectionError:
            pass
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def database_url(url: str, name: str) -> str:
    """The same server, the test database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
