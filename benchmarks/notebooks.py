"""Benchmark: a notebook from create to ready on the local backend, and what the proxy costs.

    python -m benchmarks.notebooks          (DATABASE_URL and REDIS_URL, else throwaway embedded ones)

In a scratch database, with the console served by uvicorn in its own process and a real Celery
worker: each round creates a notebook through the API and waits until Jupyter answers through the
proxy, against starting the same JupyterLab command directly and waiting until it answers (ratio).
The status sync, beat's job every COMPUTE_SYNC_SECONDS (5) in production, runs every
SYNC_EVERY_SECONDS here, so the figure is the platform's own path, not the beat's period.
Then, on one running notebook: a small REST call (`GET api/status`), kernel messages (`1+1`
execute request to reply over the kernel WebSocket) and terminal lines (a line to `cat` and back,
a WebSocket round trip without a kernel), each through the proxy and straight to Jupyter with its
token, interleaved in blocks; the REST call also through compute's forwarder alone (no notebook
policy: benchmarks/forwarder.py serves it). Prints one JSON object; ratios are over direct
(aim: under 1.3). For scale: Kubeflow and Open Data Hub start a notebook in under 40 s with a
pre-pulled image.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks.console import console, editor, free_port, scratch_database, wait_for

ROUNDS = 3
REST_CALLS = 1000
KERNEL_MESSAGES = 200
SYNC_EVERY_SECONDS = 0.25
POLL_SECONDS = 0.05
AIM = 1.3
QUEUE = "benchmark-notebooks"


def main() -> None:
    with scratch_database("mlplatform-bench-notebooks-") as database_url:
        print(json.dumps(run(database_url), indent=2))


def run(database_url: str) -> dict:
    from mlplatform.celery import app
    from mlplatform.compute.backends import get_backend
    from tests.conftest import running_celery_worker

    app.conf.task_default_queue = QUEUE
    token = editor("bench")[2]
    direct = [start_directly() for _ in range(ROUNDS)]
    with console(database_url, QUEUE) as url, running_celery_worker():
        client = Client(url, token)
        with status_sync():
            platform = [client.create_until_ready(f"nb-{i}", last=i == ROUNDS - 1) for i in range(ROUNDS)]
        # the overhead is measured with nothing else running (two cores on CI's machines)
        name = f"nb-{ROUNDS - 1}"
        upstream, secret = client.upstream(name, get_backend())
        rest = compare_rest(client, name, upstream, secret)
        kernel = compare_kernel(client, name, upstream, secret)
        terminal = compare_terminal(client, name, upstream, secret)
        with status_sync():
            client.stop(name)
    get_backend().collect_garbage(set())
    return {
        "benchmark": "notebooks",
        "backend": "local",
        "rounds": ROUNDS,
        "direct_start_seconds": _rounded(direct),
        "create_to_ready_seconds": _rounded(platform),
        "create_to_ready_vs_direct": round(statistics.median(platform) / statistics.median(direct), 2),
        "status_sync_every_seconds": SYNC_EVERY_SECONDS,
        "kubeflow_start_seconds_reference": 40,
        "rest_call": rest,
        "kernel_message": kernel,
        "terminal_line": terminal,
        "aim_ratio_under": AIM,
    }


# --- starting --------------------------------------------------------------------------------------


def start_directly() -> float:
    """Seconds from starting the notebook's own JupyterLab command until its API answers."""
    from notebooks_app.specs import base_path
    from tests.notebooks.jupyter import start_jupyterlab

    home = tempfile.mkdtemp(prefix="mlplatform-bench-home-")
    port = free_port()
    started = time.perf_counter()
    process = start_jupyterlab(project="bench", name="direct", secret="direct", port=port, home=Path(home))
    try:
        wait_for(f"http://127.0.0.1:{port}{base_path('bench', 'direct')}api", {})
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


class Client:
    """A user of the console's API and of notebooks through its proxy."""

    def __init__(self, url: str, token: str):
        import requests

        self.url = url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.auth = {"Authorization": f"Bearer {token}"}

    def create_until_ready(self, name: str, *, last: bool) -> float:
        started = time.perf_counter()
        response = self.http.post(f"{self.url}/api/projects/bench/notebooks/", json={"name": name})
        response.raise_for_status()
        wait_for(f"{self.url}/notebooks/bench/{name}/api/status", self.auth, session=self.http)
        took = time.perf_counter() - started
        if not last:
            self.stop(name)
        return took

    def stop(self, name: str) -> None:
        self.http.post(f"{self.url}/api/projects/bench/notebooks/{name}/stop/").raise_for_status()
        deadline = time.monotonic() + 60
        while self.http.get(f"{self.url}/api/projects/bench/notebooks/{name}/").json()["state"] != "STOPPED":
            assert time.monotonic() < deadline, f"{name} did not stop"
            time.sleep(POLL_SECONDS)

    def upstream(self, name: str, backend) -> tuple[str, str]:
        from notebooks_app.models import Notebook

        notebook = Notebook.objects.select_related("workload__project").get(name=name)
        return backend.endpoint(notebook.workload.ref, "notebook", 8888).url, notebook.secret


# --- overhead --------------------------------------------------------------------------------------


def compare_rest(client: Client, name: str, upstream: str, secret: str) -> dict:
    from benchmarks.forwarder import caller, served, side_by_side

    path = f"/notebooks/bench/{name}/api/status"
    token = json.dumps([["Authorization", f"token {secret}"]])
    with served(
        "benchmarks.forwarder:forwarding_app", factory=True, FORWARD_TO=upstream, FORWARD_HEADERS=token
    ) as alone:
        legs = {
            "direct": caller(upstream, "GET", path, {"Authorization": f"token {secret}"}),
            "forwarder": caller(alone, "GET", path),
            "proxy": caller(client.url, "GET", path, client.auth),
        }
        return side_by_side(legs, REST_CALLS)


def compare_kernel(client: Client, name: str, upstream: str, secret: str) -> dict:
    import requests
    from websockets.sync.client import connect

    direct_auth = {"Authorization": f"token {secret}"}
    kernels = f"{upstream}/notebooks/bench/{name}/api/kernels"
    kernel = requests.post(kernels, json={"name": "python3"}, headers=direct_auth, timeout=30).json()["id"]
    path = f"/notebooks/bench/{name}/api/kernels/{kernel}/channels"
    with (
        connect(client.url.replace("http", "ws", 1) + path, additional_headers=client.auth) as proxied,
        connect(upstream.replace("http", "ws", 1) + path, additional_headers=direct_auth) as direct,
    ):
        return _compare(_executor(proxied), _executor(direct), KERNEL_MESSAGES)


def compare_terminal(client: Client, name: str, upstream: str, secret: str) -> dict:
    """A line to `cat` in a terminal and back: a WebSocket round trip with no kernel in it."""
    import requests
    from websockets.sync.client import connect

    direct_auth = {"Authorization": f"token {secret}"}
    base = f"/notebooks/bench/{name}"
    path = f"{base}/terminals/websocket/"
    terminals = [
        requests.post(f"{upstream}{base}/api/terminals", headers=direct_auth, timeout=30).json()["name"]
        for _ in range(2)
    ]
    with (
        connect(
            client.url.replace("http", "ws", 1) + path + terminals[0], additional_headers=client.auth
        ) as proxied,
        connect(
            upstream.replace("http", "ws", 1) + path + terminals[1], additional_headers=direct_auth
        ) as direct,
    ):
        return _compare(_typist(proxied), _typist(direct), KERNEL_MESSAGES)


def _typist(ws):
    ws.send(json.dumps(["stdin", "stty -echo; cat\n"]))  # cat answers each line; the tty echoes nothing
    with contextlib.suppress(TimeoutError):
        while True:
            ws.recv(timeout=1)

    def once() -> float:
        line = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        ws.send(json.dumps(["stdin", f"{line}\n"]))
        seen = ""
        while line not in seen:
            seen += json.loads(ws.recv(timeout=30))[1]
        return time.perf_counter() - started

    return once


def _executor(ws):
    session = uuid.uuid4().hex

    def once() -> float:
        msg_id = uuid.uuid4().hex
        request = {
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "version": "5.3"},
            "parent_header": {},
            "metadata": {},
            "channel": "shell",
            "content": {"code": "1+1", "silent": False, "store_history": False, "allow_stdin": False},
            "buffers": [],
        }
        started = time.perf_counter()
        ws.send(json.dumps(request))
        while True:
            message = json.loads(ws.recv(timeout=30))
            if message["channel"] == "shell" and message["parent_header"].get("msg_id") == msg_id:
                return time.perf_counter() - started

    return once


def _compare(proxied, direct, calls: int) -> dict:
    from benchmarks.forwarder import side_by_side

    return side_by_side({"direct": direct, "proxy": proxied}, calls)


# --- beat -----------------------------------------------------------------------------------------


class status_sync:  # noqa: N801 - used as a context manager
    """Beat's status sync, every SYNC_EVERY_SECONDS."""

    def __enter__(self) -> None:
        from mlplatform.compute.tasks import sync_workloads

        self.stopping = threading.Event()

        def loop() -> None:
            while not self.stopping.wait(SYNC_EVERY_SECONDS):
                sync_workloads.delay()

        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()


# --- helpers ---------------------------------------------------------------------------------------


def _rounded(values: list[float]) -> list[float]:
    return [round(value, 2) for value in values]


if __name__ == "__main__":
    main()
