"""Idle culling: the pure decision, the pass against a real JupyterLab on the local backend, the
warning on the notebook's page, and the admin report of idle notebooks holding GPUs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from websockets.sync.client import connect

from mlplatform.compute.models import Workload
from mlplatform.compute.services import admission_pass, workload_start, workloads_sync
from mlplatform.quotas.models import Flavor
from notebooks_app.culling import cull_pass
from notebooks_app.idle import Action, Verdict, idle_verdict
from notebooks_app.models import IdlePolicy, Notebook, NotebookActivity, NotebookImage
from notebooks_app.selectors import idle_state
from notebooks_app.services import notebook_create
from notebooks_app.specs import PORT, ROLE
from tests.factories import quota

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
KEEP, WARN, STOP = Action.KEEP, Action.WARN, Action.STOP


MINUTES = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("idle", "stop_after", "warn_before", "expected"),
    [
        (timedelta(minutes=5), 30, 10, Verdict(KEEP, idle_minutes=5, stops_in_minutes=25)),
        (timedelta(minutes=20), 30, 10, Verdict(WARN, idle_minutes=20, stops_in_minutes=10)),
        (timedelta(minutes=29, seconds=30), 30, 10, Verdict(WARN, idle_minutes=29, stops_in_minutes=1)),
        (timedelta(minutes=30), 30, 10, Verdict(STOP, idle_minutes=30, stops_in_minutes=0)),
        (timedelta(hours=3), 30, 10, Verdict(STOP, idle_minutes=180, stops_in_minutes=0)),
        (timedelta(minutes=-2), 30, 10, Verdict(KEEP, idle_minutes=0, stops_in_minutes=30)),
        (timedelta(hours=3), None, 10, Verdict(KEEP, idle_minutes=180, stops_in_minutes=None)),
        (timedelta(minutes=1), 5, 10, Verdict(WARN, idle_minutes=1, stops_in_minutes=4)),
    ],
)
def test_the_policy_stops_at_the_limit_and_warns_shortly_before(idle, stop_after, warn_before, expected):
    limit = None if stop_after is None else stop_after * MINUTES

    verdict = idle_verdict(
        last_activity=NOW - idle, now=NOW, stop_after=limit, warn_before=warn_before * MINUTES
    )

    assert verdict == expected


@pytest.mark.parametrize(
    ("policy", "stops"),
    [
        (IdlePolicy(stop_after_minutes=30), timedelta(minutes=30)),
        (IdlePolicy(stop_after_minutes=None), None),
        (IdlePolicy(stop_after_minutes=30, enabled=False), None),
    ],
)
def test_a_policy_turned_off_or_without_a_limit_stops_nothing(policy, stops):
    assert policy.stop_after == stops


# --- the pass against a real JupyterLab ------------------------------------------------------------


@pytest.fixture
def lab(project, member, images, notebook_compute):
    """An ACTIVE notebook whose Jupyter really runs (no worker: the test admits and starts it)."""
    quota(project, "cpu", nominal_cpu=4, nominal_memory_gib=16)
    notebook = notebook_create(project=project, owner=member(), name="lab")
    admission_pass()
    workload_start(workload_id=notebook.workload_id)
    deadline = time.monotonic() + 90
    while True:
        workloads_sync()
        notebook = Notebook.objects.select_related("workload", "project").get(pk=notebook.pk)
        if notebook.state in (Notebook.State.ACTIVE, Notebook.State.FAILED):
            break
        assert time.monotonic() < deadline, f"still {notebook.state}"
        time.sleep(0.3)
    assert notebook.state == Notebook.State.ACTIVE, notebook.workload.reason
    return notebook


class Jupyter:
    """The notebook's Jupyter reached directly, as the proxy does, with its secret."""

    def __init__(self, backend, notebook: Notebook):
        upstream = backend.endpoint(notebook.workload.ref, ROLE, PORT).url
        self.api = f"{upstream}{notebook.proxy_path}api/"
        self.headers = {"Authorization": f"token {notebook.secret}"}

    def post(self, path: str, **kwargs) -> dict:
        response = requests.post(f"{self.api}{path}", headers=self.headers, timeout=30, **kwargs)
        assert response.ok, response.text
        return response.json() if response.content else {}

    def kernel_state(self, kernel_id: str) -> str:
        answer = requests.get(f"{self.api}kernels/{kernel_id}", headers=self.headers, timeout=30)
        return answer.json()["execution_state"]

    def execute(self, kernel_id: str, code: str) -> None:
        """Send `code` to the kernel without waiting for it to finish."""
        url = f"{self.api.replace('http', 'ws', 1)}kernels/{kernel_id}/channels"
        request = Session().msg("execute_request", content={"code": code, "silent": False})
        request["channel"] = "shell"
        with connect(url, additional_headers=self.headers, open_timeout=30) as ws:
            ws.send(json.dumps(request, default=json_default))


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_an_idle_kernel_is_culled_at_the_limit_and_a_busy_one_is_not(lab, notebook_compute):
    IdlePolicy.objects.create(project=lab.project, stop_after_minutes=30, warn_minutes_before=10)
    jupyter = Jupyter(notebook_compute, lab)
    kernel = jupyter.post("kernels", json={"name": "python3"})["id"]  # started, and never used

    # now: just used, recorded, nothing stops
    assert cull_pass().stopped == []
    seen = NotebookActivity.objects.get(notebook=lab).last_activity
    assert timezone.now() - seen < timedelta(minutes=1)
    # 25 minutes later the page warns; the pass's own requests are not activity
    later = timezone.now() + timedelta(minutes=25)
    assert cull_pass(now=later).stopped == []
    assert NotebookActivity.objects.get(notebook=lab).last_activity == seen
    state = idle_state(Notebook.objects.get(pk=lab.pk), now=later)
    assert (state.warn, state.idle_minutes, state.stops_in_minutes) == (True, 25, 5)

    # a kernel that computes counts as active, however long ago the last message was
    jupyter.execute(kernel, "import time; time.sleep(60)")
    wait_for(lambda: jupyter.kernel_state(kernel) == "busy")
    assert cull_pass(now=timezone.now() + timedelta(minutes=45)).stopped == []
    lab.refresh_from_db()
    assert lab.state == Notebook.State.ACTIVE

    # once it is idle again, the limit after its last activity stops the notebook
    jupyter.post(f"kernels/{kernel}/interrupt")
    wait_for(lambda: jupyter.kernel_state(kernel) == "idle")
    result = cull_pass(now=timezone.now() + timedelta(minutes=30, seconds=5))
    assert result.stopped == ["team-a/lab"]
    stopped = Notebook.objects.select_related("workload").get(pk=lab.pk)
    assert stopped.state == Notebook.State.STOPPING
    assert stopped.desired_state == Notebook.Desired.STOPPED
    event = stopped.workload.events.get(state=Workload.State.CANCELLING)
    assert (event.actor, event.reason) == (None, "idle for 30 minutes without kernel or terminal activity")
    browser = Client()
    browser.force_login(lab.owner)
    page = browser.get("/projects/team-a/notebooks/lab/").content.decode()
    assert "stop requested by the platform: idle for 30 minutes without kernel or terminal activity" in page


def test_notebooks_without_an_enabled_policy_are_left_alone(lab):
    IdlePolicy.objects.create(project=lab.project, stop_after_minutes=30, enabled=False)

    result = cull_pass(now=timezone.now() + timedelta(days=1))

    assert (result.checked, result.stopped) == (0, [])
    lab.refresh_from_db()
    assert lab.state == Notebook.State.ACTIVE


# --- rows without a Jupyter: the warning, the unreachable, the report -------------------------------


@pytest.fixture
def gpu_notebook(project, member, images, seeded_flavors):
    """A GPU notebook whose workload row says RUNNING (no process behind it)."""
    workload = Workload.objects.create(
        project=project,
        kind="notebook",
        name="trainer",
        spec={"name": "trainer", "kind": "notebook", "groups": []},
        state=Workload.State.RUNNING,
        backend="local",
        started_at=timezone.now() - timedelta(hours=2),
    )
    return Notebook.objects.create(
        project=project,
        name="trainer",
        owner=member(username="gina"),
        image=NotebookImage.objects.get(is_default=True),
        flavor=Flavor.objects.get(name="nvidia-tesla-t4"),
        gpus=2,
        workload=workload,
    )


@pytest.fixture
def seeded_flavors(db):
    return Flavor.objects.filter(name="nvidia-tesla-t4").exists() or pytest.skip("no T4 flavor seeded")


def record(notebook: Notebook, idle: timedelta) -> None:
    now = timezone.now()
    NotebookActivity.objects.update_or_create(
        notebook=notebook, defaults={"last_activity": now - idle, "checked_at": now}
    )


def render(notebook: Notebook) -> str:
    fresh = Notebook.objects.select_related("workload", "project").get(pk=notebook.pk)
    return render_to_string("notebooks/_idle_warning.html", {"notebook": fresh}).strip()


def test_the_page_warns_within_the_warning_time_and_says_nothing_otherwise(gpu_notebook):
    assert render(gpu_notebook) == ""  # no policy
    IdlePolicy.objects.create(project=gpu_notebook.project, stop_after_minutes=60, warn_minutes_before=15)
    assert render(gpu_notebook) == ""  # no record of its activity yet
    record(gpu_notebook, timedelta(minutes=10))
    assert render(gpu_notebook) == ""  # not yet within the warning time

    record(gpu_notebook, timedelta(minutes=50))
    page = render(gpu_notebook)

    assert 'class="alert alert-warning"' in page
    assert " ".join(page.split()).endswith(
        "This notebook has been idle for 50 minutes and will be stopped in 10 minutes unless you use it."
        " </div>"
    )


def test_an_unreachable_notebook_is_skipped_not_stopped(gpu_notebook, notebook_compute):
    IdlePolicy.objects.create(project=gpu_notebook.project, stop_after_minutes=1)

    result = cull_pass(now=timezone.now() + timedelta(days=1))

    assert (result.checked, result.unreachable, result.stopped) == (0, 1, [])
    gpu_notebook.refresh_from_db()
    assert gpu_notebook.state == Notebook.State.ACTIVE


def test_the_admin_report_lists_running_gpu_notebooks_with_their_idle_time(gpu_notebook, staff):
    record(gpu_notebook, timedelta(minutes=95))
    staff.is_superuser = True
    staff.save()
    browser = Client()
    browser.force_login(staff)

    listing = browser.get("/admin/notebooks/notebook/")
    report = browser.get("/admin/notebooks/notebook/idle-gpus/")

    assert "/admin/notebooks/notebook/idle-gpus/" in listing.content.decode()
    assert report.status_code == 200
    rows = report.context["rows"]
    assert [(row.notebook.name, row.gpus, row.idle_minutes) for row in rows] == [("trainer", 2, 95)]
    page = report.content.decode()
    assert "Idle notebooks holding GPUs" in page
    assert "gina" in page
    assert "team-a" in page.lower()
    assert Client().get("/admin/notebooks/notebook/idle-gpus/").status_code == 302  # to the admin login
