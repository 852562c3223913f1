"""The native notebooks API: shapes, refusals and roles (no worker: workloads stay queued)."""

from __future__ import annotations

import pytest

from mlplatform.compute.models import Workload
from mlplatform.core.models import Role
from mlplatform.storage.services import storage_connection_create
from notebooks_app.models import Notebook
from tests.factories import quota

BASE = "/api/projects/team-a/notebooks/"


@pytest.fixture
def team(project, images, machine_gpus):
    machine_gpus(8)
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    quota(project, "nvidia-tesla-t4", nominal_gpus=2, nominal_cpu=8, nominal_memory_gib=32)
    return project


@pytest.fixture
def editor(api, member, team):
    return api(member(Role.EDITOR, "erin"))


def test_create_queues_a_start_and_answers_without_the_secret(editor):
    response = editor.post(BASE, {"name": "lab", "env": {"WANDB_MODE": "offline"}}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "QUEUED"
    assert body["queue_position"] == 1
    assert body["image"] == "jupyterlab"
    assert (body["flavor"], body["gpus"], body["cpu"], body["memory_gib"]) == ("cpu", 0, "2.000", "4.000")
    assert body["owner"] == "erin"
    assert body["url"] == "/notebooks/team-a/lab/"
    notebook = Notebook.objects.get(name="lab")
    assert notebook.secret not in response.content.decode()
    workload = Workload.objects.get(id=body["workload"])
    assert workload.kind == "notebook"
    assert notebook.secret not in str(workload.spec)


def test_a_gpu_notebook_gets_its_flavors_cpu_and_memory_per_gpu(editor):
    body = editor.post(
        BASE, {"name": "gpu", "image": "pytorch-cuda", "flavor": "nvidia-tesla-t4", "gpus": 2}, format="json"
    ).json()

    assert (body["flavor"], body["gpus"], body["cpu"], body["memory_gib"]) == (
        "nvidia-tesla-t4",
        2,
        "8.000",
        "32.000",
    )
    assert body["image_reference"].startswith("quay.io/jupyter/pytorch-notebook:cuda")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "Bad_Name"}, "name", "DNS-1123"),
        ({"name": "new"}, "name", "reserved"),
        ({"name": "x", "flavor": "tpu"}, "flavor", "not a flavor"),
        ({"name": "x", "flavor": "nvidia-tesla-t4"}, "gpus", "at least one GPU"),
        ({"name": "x", "gpus": 1}, "gpus", "has no GPUs"),
        ({"name": "x", "image": "pytorch-cuda"}, "image", "for nvidia"),
        ({"name": "x", "image": "nope"}, "image", "not an image"),
        ({"name": "x", "env": {"MLPLATFORM_NOTEBOOK_TOKEN_SHA256": "x"}}, "env", "the platform's"),
        ({"name": "x", "flavor": "nvidia-l4", "gpus": 1}, "resources", "no quota"),
        ({"name": "x", "hostPath": "/"}, "hostPath", "not a field"),
    ],
)
def test_create_refuses_what_cannot_run_and_says_why(editor, body, field, words):
    response = editor.post(BASE, body, format="json")

    assert response.status_code == 400, response.json()
    assert words in str(response.json()[field])
    assert not Notebook.objects.exists()


def test_names_are_unique_in_a_project(editor):
    editor.post(BASE, {"name": "lab", "start": False}, format="json")

    response = editor.post(BASE, {"name": "lab"}, format="json")

    assert response.status_code == 409


def test_stop_change_while_stopped_start_and_delete_only_when_confirmed(editor):
    editor.post(BASE, {"name": "lab"}, format="json")
    url = f"{BASE}lab/"

    assert editor.patch(url, {"cpu": "4"}, format="json").status_code == 400  # queued: not now
    assert editor.post(f"{url}start/").status_code == 400  # already queued
    assert editor.post(f"{url}stop/").json()["state"] == "STOPPED"  # a queued one stops at once
    assert editor.post(f"{url}stop/").status_code == 400
    changed = editor.patch(url, {"cpu": "4", "home_size_gib": 20}, format="json").json()
    assert (changed["cpu"], changed["home_size_gib"]) == ("4.000", 20)
    assert "cannot shrink" in str(editor.patch(url, {"home_size_gib": 5}, format="json").json())
    old_secret = Notebook.objects.get(name="lab").secret
    started = editor.post(f"{url}start/").json()
    assert started["state"] == "QUEUED"
    assert Workload.objects.filter(project__slug="team-a", name="lab").count() == 2
    assert Notebook.objects.get(name="lab").secret != old_secret  # a new token for every start

    refused = editor.delete(url)
    assert refused.status_code == 400
    assert "confirm" in refused.json()
    deleting = editor.delete(f"{url}?confirm=true")
    assert deleting.status_code == 202
    assert deleting.json()["state"] == "DELETING"
    assert Workload.objects.get(id=started["workload"]).state == "CANCELLED"


def test_the_volume_goes_with_the_notebook_once_its_workload_ended(editor, notebook_compute):
    from notebooks_app.services import notebook_finish_delete

    editor.post(BASE, {"name": "lab"}, format="json")
    home = notebook_compute.root / "volumes" / "team-a" / "lab" / "home"
    home.mkdir(parents=True)
    (home / "data.csv").write_text("1,2\n")
    editor.delete(f"{BASE}lab/", {"confirm": True}, format="json")

    assert notebook_finish_delete(notebook_id=Notebook.objects.get(name="lab").pk)

    assert not home.exists()
    assert not Notebook.objects.exists()


def test_viewers_read_editors_write_outsiders_see_nothing(api, member, outsider, editor):
    editor.post(BASE, {"name": "lab"}, format="json")
    viewer = api(member(Role.VIEWER))
    stranger = api(outsider)

    assert [n["name"] for n in viewer.get(BASE).json()] == ["lab"]
    assert viewer.get(f"{BASE}lab/").status_code == 200
    assert viewer.post(BASE, {"name": "mine"}, format="json").status_code == 403
    assert viewer.post(f"{BASE}lab/stop/").status_code == 403
    assert viewer.delete(f"{BASE}lab/?confirm=true").status_code == 403
    assert stranger.get(BASE).status_code == 404
    assert stranger.get(f"{BASE}lab/").status_code == 404
    assert api().get(BASE).status_code == 401
    assert editor.get(f"{BASE}nope/").status_code == 404


def test_the_image_catalog_and_the_schema(editor):
    images = {image["name"]: image for image in editor.get("/api/notebook-images/").json()}

    assert images["jupyterlab"]["is_default"]
    assert images["jupyterlab"]["flavors"] == []
    assert "nvidia-h100-80gb" in images["pytorch-cuda"]["flavors"]
    schema = editor.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/projects/{project}/notebooks/{name}/start/" in schema["paths"]


def test_a_notebook_wires_in_the_storage_connections_it_names_all_by_default(editor, team):
    for name in ("lake", "archive"):
        storage_connection_create(project=team, name=name, kind="local", buckets=[f"{name}-bucket"])

    everything = editor.post(BASE, {"name": "everything", "start": False}, format="json").json()
    some = editor.post(
        BASE, {"name": "some", "storage_connections": ["lake"], "start": False}, format="json"
    ).json()
    unknown = editor.post(BASE, {"name": "wrong", "storage_connections": ["lake", "attic"]}, format="json")
    changed = editor.patch(f"{BASE}some/", {"storage_connections": []}, format="json")

    assert sorted(everything["storage_connections"]) == ["archive", "lake"]
    assert some["storage_connections"] == ["lake"]
    assert unknown.status_code == 400
    assert "attic" in str(unknown.json()["storage_connections"])
    assert not Notebook.objects.filter(name="wrong").exists()
    assert changed.status_code == 200, changed.json()
    assert changed.json()["storage_connections"] == []
