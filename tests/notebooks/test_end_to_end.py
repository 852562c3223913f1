"""Notebooks end to end on the local backend: the API queues, a real Celery worker admits and
starts a real JupyterLab, and a user works in it through the authenticating proxy (uvicorn)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import psutil
import pytest
import requests
from django.conf import settings
from django.test import Client
from websockets.sync.client import connect

from mlplatform.compute.tasks import sync_workloads
from mlplatform.core.models import Role
from notebooks_app.models import Notebook
from tests.factories import quota
from tests.notebooks.jupyter import execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("real-worker")]

API = "/api/projects/team-a/notebooks/"
JUPYTERLAB_PROTOCOL = "v1.kernel.websocket.jupyter.org"


@pytest.fixture
def team(project, celery_worker, images, notebook_compute):
    return project


def wait(client, name: str, states: set[str], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        sync_workloads.delay()  # beat's job in production
        body = client.get(f"{API}{name}/").json()
        if body["state"] in states:
            return body
        assert time.monotonic() < deadline, f"{name} still {body['state']}: {body['reason']}"
        time.sleep(0.3)


class Caller:
    """Someone using a notebook through the proxy; keeps every answer to look for the secret in."""

    def __init__(self, console_url: str, *, token: str | None = None, session: str | None = None):
        self.base = f"{console_url}/notebooks/team-a"
        self.http = requests.Session()
        self.headers = {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if session:
            self.headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={session}"
        self.http.headers.update(self.headers)
        self.seen: list[str] = []

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.http.request(
            method, f"{self.base}/{path}", allow_redirects=False, timeout=30, **kwargs
        )
        self.seen += [response.text, json.dumps(dict(response.headers))]
        return response

    def run(self, notebook: str, kernel_id: str, code: str, **headers) -> str:
        """Execute `code` over the kernel's WebSocket; returns its result's text/plain."""
        url = f"{self.base.replace('http', 'ws', 1)}/{notebook}/api/kernels/{kernel_id}/channels"
        return execute(url, {**self.headers, **headers}, code, seen=self.seen)

    def refused(self, notebook: str) -> int:
        """The status a WebSocket to the notebook gets, 101 when it gets through."""
        url = f"{self.base.replace('http', 'ws', 1)}/{notebook}/api/kernels/{uuid.uuid4()}/channels"
        try:
            with connect(url, additional_headers=self.headers, open_timeout=30):
                return 101
        except Exception as exc:  # websockets' InvalidStatus carries the answer
            return exc.response.status_code


def jupyter_pid(backend, notebook: Notebook) -> int:
    return int((backend.run_dir(notebook.workload.ref) / "notebook-0" / "pid").read_text())


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_user_runs_code_and_keeps_files_through_the_proxy_and_nobody_else_gets_in(
    team, api, member, outsider, token_for, console_url, notebook_compute
):
    quota(team, "cpu", nominal_cpu=4, nominal_memory_gib=16)
    alice = member(Role.EDITOR, "alice")
    client = api(alice)
    created = client.post(API, {"name": "lab"}, format="json")
    assert created.status_code == 201, created.json()
    assert wait(client, "lab", {"ACTIVE", "FAILED"})["state"] == "ACTIVE"
    notebook = Notebook.objects.select_related("workload").get(name="lab")
    secrets_seen = [notebook.secret]

    # alice drives Jupyter's REST and kernel WebSocket APIs with her API token
    user = Caller(console_url, token=token_for(alice))
    assert user.request("GET", "lab/api/status").json()["kernels"] == 0
    kernel = user.request("POST", "lab/api/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    assert user.run("lab", kernel.json()["id"], "1+1") == "2"
    saved = user.request(
        "PUT", "lab/api/contents/hello.txt", json={"type": "file", "format": "text", "content": "kept"}
    )
    assert saved.status_code == 201, saved.text

    # in a browser, with the console's session: JupyterLab's page, and no cookie of Jupyter's
    browser = Client()
    browser.force_login(alice)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    tab = Caller(console_url, session=session)
    page = tab.request("GET", "lab/lab", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "jupyter-config-data" in page.text
    assert "set-cookie" not in {name.lower() for name in page.headers}
    assert tab.request("GET", "lab/api/contents/hello.txt").json()["name"] == "hello.txt"
    # another site cannot use the session: the proxy checks the Origin (Jupyter trusts its token)
    evil = {"Origin": "https://evil.example"}
    assert tab.request("POST", "lab/api/kernels", json={}, headers=evil).status_code == 403
    assert Caller(console_url, session=session).run("lab", kernel.json()["id"], "2+2") == "4"
    channels = f"{tab.base.replace('http', 'ws', 1)}/lab/api/kernels/{kernel.json()['id']}/channels"
    with connect(channels, additional_headers=tab.headers, subprotocols=[JUPYTERLAB_PROTOCOL]) as ws:
        assert ws.subprotocol == JUPYTERLAB_PROTOCOL  # what JupyterLab asks for, agreed by Jupyter
    with pytest.raises(Exception, match="403"):
        tab.run("lab", kernel.json()["id"], "3+3", Origin="https://evil.example")

    # viewers, outsiders and strangers get a plain 404 (a browser without a session: the login page)
    viewer = Caller(console_url, token=token_for(member(Role.VIEWER, "vera")))
    stranger = Caller(console_url, token=token_for(outsider))
    for caller in (viewer, stranger, Caller(console_url), Caller(console_url, token="mlp_not-a-token")):
        assert caller.request("GET", "lab/api/status").status_code == 404
        assert caller.request("GET", "nothing-here/api/status").status_code == 404
    assert viewer.refused("lab") == 404
    assert stranger.refused("lab") == 404
    login = Caller(console_url).request("GET", "lab/lab", headers={"Accept": "text/html"})
    assert login.status_code == 302
    assert login.headers["Location"].startswith("/login/?next=")
    colleague = Caller(console_url, token=token_for(member(Role.EDITOR, "bob")))
    assert colleague.request("GET", "lab/api/status").status_code == 200

    # Jupyter cannot be reached around the proxy: without the secret, even with its digest, it refuses
    upstream = notebook_compute.endpoint(notebook.workload.ref, "notebook", 8888).url
    digest = hashlib.sha256(notebook.secret.encode()).hexdigest()
    assert requests.get(f"{upstream}/notebooks/team-a/lab/api/status", timeout=10).status_code == 403
    with_digest = {"Authorization": f"token {digest}"}
    assert (
        requests.get(
            f"{upstream}/notebooks/team-a/lab/api/status", headers=with_digest, timeout=10
        ).status_code
        == 403
    )

    # stop: the process is gone, the proxy says so; start: the file is still there
    pid = jupyter_pid(notebook_compute, notebook)
    assert client.post(f"{API}lab/stop/").json()["state"] in ("STOPPING", "STOPPED")
    assert wait(client, "lab", {"STOPPED"})["state"] == "STOPPED"
    assert gone(pid)
    stopped = user.request("GET", "lab/api/status")
    assert (stopped.status_code, stopped.json()["state"]) == (503, "STOPPED")
    client.post(f"{API}lab/start/")
    assert wait(client, "lab", {"ACTIVE", "FAILED"})["state"] == "ACTIVE"
    secrets_seen.append(Notebook.objects.get(name="lab").secret)
    kept = user.request("GET", "lab/api/contents/hello.txt")
    assert kept.status_code == 200, kept.text
    assert kept.json()["content"] == "kept"

    # the secret never reached anyone
    for caller in (user, tab, viewer, stranger, colleague):
        for secret in secrets_seen:
            assert not any(secret in text for text in caller.seen)

    # delete: the notebook and its home go
    home = notebook_compute.root / "volumes" / "team-a" / "lab"
    assert home.exists()
    assert client.delete(f"{API}lab/?confirm=true").json()["state"] == "DELETING"
    deadline = time.monotonic() + 60
    while client.get(f"{API}lab/").status_code != 404:
        assert time.monotonic() < deadline, "the notebook was not deleted"
        time.sleep(0.3)
    assert not home.exists()


def test_with_the_quota_full_a_notebook_waits_with_its_reason_and_starts_when_another_stops(
    team, api, member, token_for, console_url
):
    quota(team, "cpu", nominal_cpu=2, nominal_memory_gib=8)
    alice = member(Role.EDITOR, "alice")
    client = api(alice)
    client.post(API, {"name": "first"}, format="json")
    wait(client, "first", {"PROVISIONING", "STARTING", "ACTIVE"})

    client.post(API, {"name": "second"}, format="json")
    time.sleep(1)  # let the admission pass run
    queued = client.get(f"{API}second/").json()
    assert queued["state"] == "QUEUED"
    assert queued["queue_position"] == 1
    assert "team-a uses 2 of 2 vCPUs" in queued["reason"]
    waiting = Caller(console_url, token=token_for(alice)).request("GET", "second/api/status")
    assert waiting.status_code == 503
    assert (waiting.json()["state"], waiting.json()["queue_position"]) == ("QUEUED", 1)

    client.post(f"{API}first/stop/")

    assert wait(client, "second", {"ACTIVE", "FAILED"})["state"] == "ACTIVE"
    assert client.get(f"{API}first/").json()["state"] == "STOPPED"
