"""`make run`'s path end to end: migrate, bootstrap and runconsole on the embedded default.

SQLite and an embedded Redis under a fresh DATA_DIR, no DATABASE_URL or REDIS_URL: the same
processes a newcomer gets (uvicorn, a Celery worker and beat), reached over HTTP.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import google.oauth2.credentials
import psutil
import pytest
import requests
from googleapiclient import discovery

ROOT = Path(__file__).resolve().parents[2]

# One console for the module: its tests stay on one xdist worker (`--dist loadgroup`).
pytestmark = pytest.mark.xdist_group("embedded-console")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"}}
    env.update(
        DATA_DIR=str(tmp_path_factory.mktemp("data")), PORT=str(_free_port()), DJANGO_SUPERUSER_PASSWORD=""
    )
    _manage(env, "migrate", "--noinput")
    login = _manage(env, "bootstrap")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runconsole"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{env['PORT']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.3)
    yield {"url": url, "env": env, "login": login, "process": process}
    if process.poll() is None:  # stop it as Ctrl-C would, so that no child outlives the test
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()


def test_the_embedded_console_serves_health_pages_and_the_google_api(console):
    url = console["url"]

    health = requests.get(f"{url}/healthz", timeout=5).json()
    login_page = requests.get(f"{url}/login/", timeout=5)
    token = _manage(console["env"], "issue_token", "admin").strip()
    ml = discovery.build(
        "ml",
        "v1",
        static_discovery=True,
        cache_discovery=False,
        credentials=google.oauth2.credentials.Credentials(token),
        client_options={"api_endpoint": url + "/"},
    )

    assert health["checks"]["database"]["ok"]
    assert health["checks"]["broker"]["ok"]
    assert login_page.status_code == 200
    assert "ML Platform" in login_page.text
    assert requests.get(f"{url}/static/vendor/htmx/htmx.min.js", timeout=5).status_code == 200
    assert ml.projects().jobs().list(parent="projects/demo").execute() == {"jobs": []}
    assert "login: admin / " in console["login"]
    password = console["login"].split("login: admin / ")[1].split()[0]
    session = requests.Session()
    page = session.get(f"{url}/login/", timeout=5)
    csrf = session.cookies["csrftoken"]
    dashboard = session.post(
        f"{url}/login/",
        data={"username": "admin", "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{url}/login/"},
        timeout=5,
    )
    assert page.status_code == 200
    assert "Demo" in dashboard.text
    assert "GPU quota and usage" in dashboard.text


def test_a_workload_runs_as_local_processes_on_the_embedded_default(console):
    url, token = console["url"], _manage(console["env"], "issue_token", "admin", "--name", "compute").strip()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    group = {
        "role": "worker",
        "count": 2,
        "image": "python:3.11",
        "command": [
            sys.executable,
            "-c",
            "import os; print('replica', os.environ['MLPLATFORM_REPLICA_INDEX'])",
        ],
        "resources": {"flavor": "cpu", "cpu": "1", "memory_gib": "1"},
    }
    created = api.post(
        f"{url}/api/projects/demo/workloads/",
        json={"spec": {"name": "hello", "kind": "batch", "groups": [group]}},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    workload = f"{url}/api/projects/demo/workloads/{created.json()['id']}/"

    deadline = time.monotonic() + 60
    while (body := api.get(workload, timeout=5).json())["state"] not in ("SUCCEEDED", "FAILED"):
        assert time.monotonic() < deadline, f"still {body['state']}: {body['reason']}"
        time.sleep(0.5)

    assert body["state"] == "SUCCEEDED", body["reason"]
    assert [r["phase"] for r in body["replicas"]] == ["succeeded", "succeeded"]
    assert api.get(f"{workload}logs/?role=worker&index=1", timeout=5).text.strip().endswith("replica 1")


def test_ctrl_c_stops_everything_it_started(console):
    process = console["process"]
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 3  # web, worker, beat (and their own children)

    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)

    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert "Console stopped." in process.stdout.read()
