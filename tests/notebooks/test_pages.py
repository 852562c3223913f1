"""The Notebooks pages: list, create form with quota hints, a notebook's page with its spawn
progress, and the start, stop, change and delete actions (on queued notebooks: no JupyterLab)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mlplatform.compute import services as compute
from mlplatform.compute.models import Workload
from mlplatform.core.errors import Refusals
from mlplatform.core.models import Role
from mlplatform.storage.services import storage_connection_create
from notebooks_app import services
from notebooks_app.models import Notebook, NotebookActivity
from notebooks_app.views import notebook_fields_from_form, spawn_steps
from tests.factories import quota, replica_wrote
from tests.forms import read_form

LIST = "/projects/team-a/notebooks/"
HOUR = timedelta(hours=1)
NEW = f"{LIST}new/"


@pytest.fixture
def team(project, images, machine_gpus):
    machine_gpus(16)  # more than any quota here: what quota refuses is not the machine's
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    quota(project, "nvidia-a100-80gb", nominal_gpus=8, nominal_cpu=96, nominal_memory_gib=1360)
    return project


def queued(project, owner, name: str = "lab", **shape) -> Notebook:
    return services.notebook_create(project=project, owner=owner, name=name, **shape)


def in_state(notebook: Notebook, state: str, **times) -> Notebook:
    Workload.objects.filter(pk=notebook.workload_id).update(state=state, **times)
    return Notebook.objects.select_related("workload").get(pk=notebook.pk)


# --- the list ------------------------------------------------------------------------------------


def test_the_list_shows_state_queue_position_resources_and_polls_while_a_notebook_waits(team, editor, client):
    queued(team, editor, "lab", flavor="nvidia-a100-80gb", gpus=2)

    page = client.get(LIST).content.decode()

    assert 'data-notebook="lab"' in page
    assert ">QUEUED<" in page
    assert "#1</span> in queue" in page
    assert "2 \N{MULTIPLICATION SIGN} NVIDIA A100 80GB" in page
    assert "jupyterlab" in page
    assert 'hx-trigger="every 3s"' in page
    assert "New notebook" in page
    assert "/notebooks/team-a/lab/lab" not in page  # only ACTIVE ones open


def test_an_active_notebook_opens_jupyterlab_in_a_new_tab_and_the_list_stops_polling(team, editor, client):
    in_state(queued(team, editor), Workload.State.RUNNING)

    page = client.get(LIST).content.decode()

    assert 'href="/notebooks/team-a/lab/lab" target="_blank"' in page
    assert ">ACTIVE<" in page
    assert "every 3s" not in page
    assert client.get(f"{LIST}?fragment=table").content.decode().startswith('<section id="notebook-table"')


def test_the_list_reads_in_as_many_queries_for_many_notebooks_as_for_one(team, editor, client):
    storage_connection_create(project=team, name="lake", kind="local", buckets=["lake"])

    def active(name: str) -> None:
        notebook = in_state(queued(team, editor, name), Workload.State.RUNNING)
        NotebookActivity.objects.create(
            notebook=notebook, last_activity=timezone.now(), checked_at=timezone.now()
        )

    active("first")
    with CaptureQueriesContext(connection) as one:
        client.get(LIST)
    for i in range(5):
        active(f"more-{i}")
    with CaptureQueriesContext(connection) as six:
        page = client.get(LIST).content.decode()

    assert page.count("data-notebook=") == 6
    assert len(six) == len(one)


def test_viewers_see_the_list_without_the_new_button_and_outsiders_get_404(team, member, outsider, client):
    queued(team, member(Role.EDITOR, "erin"))
    client.force_login(member(Role.VIEWER, "vera"))

    page = client.get(LIST).content.decode()

    assert 'data-notebook="lab"' in page
    assert "New notebook" not in page
    assert client.get(NEW).status_code == 403
    client.force_login(outsider)
    assert client.get(LIST).status_code == 404
    assert client.get(f"{LIST}lab/").status_code == 404


# --- the form ------------------------------------------------------------------------------------


def test_the_form_offers_cpu_and_the_gpu_flavors_with_quota_with_what_is_free_now(team, editor, client):
    holding = queued(team, editor, "big", flavor="nvidia-a100-80gb", gpus=3)
    in_state(holding, Workload.State.RUNNING)

    page = client.get(NEW).content.decode()

    assert "5 of 8 GPUs free now" in page  # 3 of the A100s are held
    assert "8 of 8 vCPUs free now" in page
    assert 'value="nvidia-a100-80gb"' in page
    assert 'value="nvidia-tesla-t4"' not in page  # no quota for it here
    assert page.index("CPU only") < page.index("NVIDIA A100 80GB")
    assert 'data-flavors="nvidia' in page  # the CUDA image is for GPU flavors only


def test_creating_from_the_form_queues_the_notebook_and_leads_to_its_page(team, editor, client):
    form = {
        "name": "vision",
        "image": "pytorch-cuda",
        "flavor": "nvidia-a100-80gb",
        "gpus": "2",
        "cpu": "",
        "memory_gib": "",
        "home_size_gib": "20",
        "env": "WANDB_PROJECT=vision\n\n TEAM = cv ",
    }

    response = client.post(NEW, form)

    assert response.status_code == 302
    assert response["Location"] == f"{LIST}vision/"
    notebook = Notebook.objects.get(name="vision")
    assert (notebook.owner, notebook.image.name, notebook.flavor.name, notebook.gpus) == (
        editor,
        "pytorch-cuda",
        "nvidia-a100-80gb",
        2,
    )
    assert notebook.cpu == 24  # the flavor's per-GPU share
    assert notebook.env == {"WANDB_PROJECT": "vision", "TEAM": "cv"}
    assert notebook.state == "QUEUED"


def test_the_form_offers_the_projects_storage_connections_all_ticked_and_keeps_the_choice(
    team, editor, client
):
    for name in ("lake", "archive"):
        storage_connection_create(project=team, name=name, kind="local", buckets=[f"{name}-bucket"])

    form = client.get(NEW).content.decode()
    client.post(NEW, {"name": "picky", "flavor": "cpu", "storage_connections": ["archive"]})
    page = client.get(f"{LIST}picky/").content.decode()

    assert 'value="lake" checked' in form
    assert 'value="archive" checked' in form
    assert [c.name for c in Notebook.objects.get(name="picky").storage_connections.all()] == ["archive"]
    assert "storage archive ·" in page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": "Not_A_Label"}, "name", "Not_A_Label"),
        ({"env": "JUST_A_NAME"}, "env", "line 1: write NAME=value."),
        ({"env": "JUPYTER_TOKEN=x"}, "env", "the platform"),
        ({"home_size_gib": "big"}, "home_size_gib", "'big' is not a whole number."),
        ({"image": "pytorch-cuda", "flavor": "cpu"}, "image", "is for"),
        ({"flavor": "nvidia-a100-80gb", "gpus": "0"}, "gpus", "ask for at least one GPU"),
        ({"flavor": "nvidia-a100-80gb", "gpus": "9"}, "flavor", "quota"),
    ],
)
def test_form_errors_are_shown_next_to_their_field_and_nothing_is_created(
    team, editor, client, change, field, message
):
    form = {"name": "lab", "flavor": "cpu", "home_size_gib": "10", **change}

    response = client.post(NEW, form)

    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="form-error"' in page
    feedback = page.split(f'name="{field}"')[-1].split('data-testid="field-error">')[1].split("</div>")[0]
    assert message in feedback.replace("&#x27;", "'")
    assert not Notebook.objects.exists()


def test_several_bad_fields_are_all_marked_at_once_and_everything_typed_stays(team, editor, client):
    typed = {
        "name": "Lab!",
        "flavor": "nvidia-a100-80gb",
        "gpus": "0",
        "cpu": "-1",
        "home_size_gib": "big",
        "env": "JUST_A_NAME",
        "storage_connections": [],
    }

    response = client.post(NEW, typed)

    form = read_form(response.content.decode())
    assert response.status_code == 400
    assert form.invalid == {"name", "gpus", "cpu", "home_size_gib", "env"}
    assert form.values["env"] == "JUST_A_NAME"
    assert form.values["home_size_gib"] == "big"
    assert "flavor=nvidia-a100-80gb" in form.checked
    assert not Notebook.objects.exists()


def test_a_taken_name_is_refused_at_the_name(team, editor, client):
    queued(team, editor)

    page = client.post(NEW, {"name": "lab", "flavor": "cpu"}).content.decode()

    assert "already exists" in page.split('name="name"')[1]


def test_the_form_reads_cpu_only_as_no_gpus_and_blank_numbers_as_the_flavor_defaults():
    fields = notebook_fields_from_form({"flavor": "cpu", "gpus": "4", "cpu": " ", "env": ""}, Refusals())

    assert fields == {
        "image": None,
        "flavor": "cpu",
        "gpus": 0,
        "home_size_gib": 10,
        "env": {},
        "storage_connections": [],
    }


# --- a notebook's page ---------------------------------------------------------------------------


def test_a_queued_notebook_shows_its_position_and_reason_as_the_first_step_and_polls(team, editor, client):
    queued(team, editor)

    page = client.get(f"{LIST}lab/").content.decode()

    steps = ("Queued", "Admitted", "Scheduled on a node", "Image pulled", "Starting Jupyter", "Ready")
    assert [s in page for s in steps] == [True] * 6
    assert 'class="current" data-status="current"' in page
    assert "position 1 in the queue · waiting for the next admission pass" in page
    assert 'hx-trigger="every 2s"' in page
    assert "submitted by erin" in page  # the events
    notebook = Notebook.objects.get(name="lab")
    assert f'hx-get="/projects/team-a/queue/workloads/{notebook.workload_id}/utilisation/"' in page
    status = client.get(f"{LIST}lab/?fragment=status").content.decode()
    assert status.startswith('<div id="notebook-status"')
    assert 'id="notebook-header" hx-swap-oob="true"' in status


def test_spawn_steps_follow_the_workload_and_a_failure_marks_the_step_it_did_not_pass(team, editor):
    notebook = queued(team, editor)
    now = timezone.now()

    starting = in_state(notebook, Workload.State.STARTING, admitted_at=now)
    assert [s.status for s in spawn_steps(starting)] == ["done", "done", "current", "todo", "todo", "todo"]
    active = in_state(notebook, Workload.State.RUNNING, started_at=now)
    assert [s.status for s in spawn_steps(active)] == ["done"] * 6
    failed = in_state(notebook, Workload.State.FAILED, started_at=None)
    assert [s.status for s in spawn_steps(failed)] == ["done", "done", "failed", "todo", "todo", "todo"]
    assert spawn_steps(in_state(notebook, Workload.State.CANCELLED)) == []


def replica(stage: str, message: str = "") -> list[dict]:
    return [{"role": "notebook", "index": 0, "phase": "pending", "stage": stage, "message": message}]


def on_kubernetes(notebook: Notebook, replicas: list[dict]) -> None:
    Workload.objects.filter(pk=notebook.workload_id).update(backend="kubernetes", replicas=replicas)


@pytest.mark.parametrize(
    ("stage", "message", "statuses"),
    [
        (
            "scheduling",
            "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
            ["current", "todo", "todo"],
        ),
        ("pulling", "ContainerCreating", ["done", "current", "todo"]),
        ("starting", "not ready", ["done", "done", "current"]),
    ],
)
def test_on_kubernetes_the_pod_says_whether_it_waits_for_a_node_its_image_or_jupyter(
    team, editor, stage, message, statuses
):
    notebook = queued(team, editor)
    Workload.objects.filter(pk=notebook.workload_id).update(
        backend="kubernetes", replicas=replica(stage, message)
    )

    steps = spawn_steps(in_state(notebook, Workload.State.STARTING, admitted_at=timezone.now()))

    assert [s.status for s in steps[2:5]] == statuses
    assert next(s.detail for s in steps if s.status == "current") == message


def test_a_pull_that_fails_marks_the_image_step_with_kubernetes_reason(team, editor):
    notebook = queued(team, editor)
    why = "ImagePullBackOff: Back-off pulling image quay.io/jupyter/nope"
    Workload.objects.filter(pk=notebook.workload_id).update(
        backend="kubernetes", replicas=replica("pulling", why)
    )

    steps = spawn_steps(in_state(notebook, Workload.State.FAILED, admitted_at=timezone.now()))

    assert [s.status for s in steps] == ["done", "done", "done", "failed", "todo", "todo"]
    assert steps[3].detail == why


def test_on_the_local_backend_there_is_no_node_to_wait_for_nor_an_image_to_pull(team, editor):
    notebook = queued(team, editor)
    Workload.objects.filter(pk=notebook.workload_id).update(backend="local", replicas=replica("starting"))

    steps = spawn_steps(in_state(notebook, Workload.State.STARTING, admitted_at=timezone.now()))

    assert [(s.status, s.detail) for s in steps[2:5]] == [
        ("done", "this machine"),
        ("done", "nothing to pull on the local backend"),
        ("current", "starting"),
    ]


def test_a_failed_notebook_says_why_in_plain_words_with_the_last_log_lines(
    team, editor, client, notebook_compute
):
    notebook = queued(team, editor)
    Workload.objects.filter(pk=notebook.workload_id).update(
        admitted_at=timezone.now(), reason="Jupyter exited with code 1"
    )
    replica_wrote(
        notebook.workload, "Traceback (most recent call last):\nBoom\n", state=Workload.State.FAILED
    )

    page = client.get(f"{LIST}lab/").content.decode()

    assert "It did not start.</strong> Jupyter exited with code 1" in page
    assert "Traceback (most recent call last):\nBoom" in page
    assert "every 2s" not in page  # settled
    assert "> Start</button>" in page


def test_an_active_notebook_has_open_and_stop_but_no_start(team, editor, client):
    in_state(queued(team, editor), Workload.State.RUNNING)

    page = client.get(f"{LIST}lab/").content.decode()

    assert 'href="/notebooks/team-a/lab/lab" target="_blank"' in page
    assert "Stop</button>" in page
    assert "> Start</button>" not in page
    assert 'hx-get="?fragment=status"' not in page  # settled: only its log is followed


def test_a_running_notebooks_page_follows_jupyters_log(team, editor, client, notebook_compute):
    # Given a notebook that is ready, and what Jupyter has written so far
    notebook = queued(team, editor)
    replica_wrote(notebook.workload, "[I ServerApp] Jupyter Server 2.14.2 is running at:\n")

    # When its page is read, and its log polled after Jupyter wrote more
    page = client.get(f"{LIST}lab/").content.decode()
    replica_wrote(
        notebook.workload, "[I ServerApp] Jupyter Server 2.14.2 is running at:\n[I] Kernel started\n"
    )
    polled = client.get(f"{LIST}lab/?fragment=logs&role=notebook&index=0").content.decode()

    # Then the page shows the log and keeps following it
    assert ">ACTIVE<" in page
    assert "Jupyter's log</h2>" in page
    assert "Jupyter Server 2.14.2 is running at:" in page
    assert polled.startswith('<div id="replica-log"')
    assert 'hx-trigger="every 2s"' in polled
    assert "[I] Kernel started" in polled
    assert (
        f'href="/projects/team-a/queue/workloads/{notebook.workload_id}/log/?role=notebook&index=0"' in page
    )


def test_the_page_shows_what_the_notebooks_start_cost(team, editor, client):
    # Given a notebook of 2 A100s (3.93 per GPU-hour) that ran for an hour and was stopped
    now = timezone.now()
    notebook = queued(team, editor, "lab", flavor="nvidia-a100-80gb", gpus=2)
    in_state(notebook, Workload.State.CANCELLED, started_at=now - 2 * HOUR, finished_at=now - HOUR)

    page = client.get(f"{LIST}lab/").content.decode()

    assert 'Cost of this start:</span> <span data-testid="cost">$7.86</span>' in page


def test_the_idle_warning_is_included_on_the_page(team, editor, client):
    queued(team, editor)

    response = client.get(f"{LIST}lab/")

    assert "notebooks/_idle_warning.html" in [t.name for t in response.templates]


# --- actions -------------------------------------------------------------------------------------


def test_a_users_stop_reads_as_a_stop_on_the_notebooks_page_not_as_a_cancel(
    team, editor, client, notebook_compute
):
    # Given a running notebook
    notebook = queued(team, editor)
    replica_wrote(notebook.workload, "")

    # When its owner stops it, and its workload's stop is seen through
    client.post(f"{LIST}lab/stop/")
    stopping = client.get(f"{LIST}lab/?fragment=status").content.decode()
    compute.workload_stop(workload_id=notebook.workload_id)
    stopped = client.get(f"{LIST}lab/?fragment=status").content.decode()

    # Then its page says it was stopped by her, in its events too, and never "cancelled"
    assert badges(stopping)[0] == "STOPPING"
    assert "stop requested by erin</span>" in stopping
    assert "Stopped by erin. It holds no GPUs" in stopped
    assert badges(stopped)[:2] == ["STOPPED", "STOPPING"]
    assert "stopped by erin</span>" in stopped
    assert "cancel" not in (stopping + stopped).lower()


def badges(status: str) -> list[str]:
    """The states of a notebook page's events, the latest first."""
    events = status.split('data-testid="events"')[1]
    return re.findall(r'class="badge state state-[a-z]+ align-self-start">([A-Z]+)<', events)


def test_stop_start_and_delete_call_the_services(team, editor, client):
    queued(team, editor)

    assert client.post(f"{LIST}lab/stop/")["Location"] == f"{LIST}lab/"
    assert Notebook.objects.get(name="lab").state == "STOPPED"
    assert "stopped by erin</span>" in client.get(f"{LIST}lab/").content.decode()  # no reason: she stopped it
    client.post(f"{LIST}lab/start/")
    assert Notebook.objects.get(name="lab").state == "QUEUED"
    client.post(f"{LIST}lab/delete/", {"confirm": "not-it"})
    assert Notebook.objects.get(name="lab").desired_state == "RUNNING"
    assert "deletes its home volume" in client.get(f"{LIST}lab/").content.decode()
    response = client.post(f"{LIST}lab/delete/", {"confirm": "lab"})
    assert response["Location"] == LIST
    assert Notebook.objects.get(name="lab").state == "DELETING"


def test_an_action_the_state_does_not_allow_is_reported_on_the_page(team, editor, client):
    queued(team, editor)

    client.post(f"{LIST}lab/start/")

    assert "is queued: it cannot start now." in client.get(f"{LIST}lab/").content.decode()


def test_a_stopped_notebook_can_change_resources_and_a_bad_change_is_shown_at_its_field(team, editor, client):
    notebook = queued(team, editor)
    services.notebook_stop(notebook=notebook, actor=editor)
    page = client.get(f"{LIST}lab/?edit=1").content.decode()
    assert 'action="/projects/team-a/notebooks/lab/edit/"' in page
    assert 'name="home_size_gib" value="10"' in page

    shrink = client.post(f"{LIST}lab/edit/", {"image": "jupyterlab", "flavor": "cpu", "home_size_gib": "5"})
    assert shrink.status_code == 400
    assert "cannot shrink" in shrink.content.decode().split('name="home_size_gib"')[1]
    grown = client.post(
        f"{LIST}lab/edit/",
        {"image": "pytorch-cuda", "flavor": "nvidia-a100-80gb", "gpus": "1", "home_size_gib": "50"},
    )
    assert grown.status_code == 302
    notebook.refresh_from_db()
    assert (notebook.flavor.name, notebook.gpus, notebook.home_size_gib) == ("nvidia-a100-80gb", 1, 50)


def test_viewers_get_403_on_every_action_even_on_a_notebook_they_own(team, member, client):
    queued(team, member(Role.EDITOR, "erin"))
    vera = member(Role.VIEWER, "vera")
    client.force_login(vera)

    for action in ("stop", "start", "edit", "delete"):
        assert client.post(f"{LIST}lab/{action}/", {"confirm": "lab"}).status_code == 403
    assert Notebook.objects.get(name="lab").state == "QUEUED"
    assert "Stop</button>" not in client.get(f"{LIST}lab/").content.decode()

    Notebook.objects.filter(name="lab").update(owner=vera)
    assert client.post(f"{LIST}lab/stop/").status_code == 403


def test_actions_need_post_and_outsiders_get_404(team, member, outsider, client):
    queued(team, member(Role.EDITOR, "erin"))
    client.force_login(outsider)

    assert client.post(f"{LIST}lab/stop/").status_code == 404
    client.force_login(member(Role.EDITOR, "bob"))
    assert client.get(f"{LIST}lab/stop/").status_code == 405
