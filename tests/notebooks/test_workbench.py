"""The Vertex AI Workbench (`notebooks v2`) facade, driven by the real googleapiclient."""

from __future__ import annotations

import time

import pytest
from googleapiclient.errors import HttpError

from mlplatform.compute.tasks import sync_workloads
from mlplatform.core.models import Role
from notebooks_app.models import Notebook
from tests.factories import quota

pytestmark = pytest.mark.django_db(transaction=True)

PARENT = "projects/team-a/locations/local"


@pytest.fixture
def workbench(google_api, member, project, images):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    quota(project, "nvidia-tesla-t4", nominal_gpus=2, nominal_cpu=8, nominal_memory_gib=32)
    return google_api(member(Role.EDITOR, "alice"), "notebooks", "v2").projects().locations()


def refused(call) -> str:
    with pytest.raises(HttpError) as caught:
        call.execute()
    assert caught.value.resp.status == 400, caught.value
    return str(caught.value)


def test_an_instance_takes_its_shape_from_gce_setup_and_unsupported_settings_are_refused(
    workbench, google_api, member, outsider
):
    body = {
        "gceSetup": {
            "machineType": "n1-standard-4",
            "acceleratorConfigs": [{"type": "NVIDIA_TESLA_T4", "coreCount": "1"}],
            "containerImage": {"repository": "quay.io/jupyter/pytorch-notebook", "tag": "cuda12-2026-08-24"},
            "dataDisks": [{"diskSizeGb": "20", "diskType": "PD_BALANCED"}],
            "metadata": {"framework": "PyTorch"},
        },
        "labels": {"team": "vision"},
    }

    operation = workbench.instances().create(parent=PARENT, instanceId="lab", body=body).execute()

    assert operation["name"].startswith(f"{PARENT}/operations/")
    assert not operation["done"]
    assert operation["metadata"]["verb"] == "create"
    instance = workbench.instances().get(name=f"{PARENT}/instances/lab").execute()
    assert instance["state"] == "PROVISIONING"  # no worker here: it waits in the queue
    assert instance["proxyUri"].endswith("/notebooks/team-a/lab/")
    assert instance["labels"] == {"team": "vision"}
    setup = instance["gceSetup"]
    assert setup["machineType"] == "custom-4-15360"
    assert setup["acceleratorConfigs"] == [{"type": "NVIDIA_TESLA_T4", "coreCount": "1"}]
    assert setup["containerImage"] == {
        "repository": "quay.io/jupyter/pytorch-notebook",
        "tag": "cuda12-2026-08-24",
    }
    assert setup["dataDisks"] == [{"diskSizeGb": "20"}]
    notebook = Notebook.objects.get(name="lab")
    assert (notebook.flavor.name, notebook.gpus, notebook.cpu, notebook.home_size_gib) == (
        "nvidia-tesla-t4",
        1,
        4,
        20,
    )
    listed = workbench.instances().list(parent=PARENT).execute()
    assert [i["name"] for i in listed["instances"]] == [f"{PARENT}/instances/lab"]
    assert workbench.list(name="projects/team-a").execute()["locations"][0]["locationId"] == "local"
    assert [op["name"] for op in workbench.operations().list(name=PARENT).execute()["operations"]] == [
        operation["name"]
    ]

    create = workbench.instances().create
    assert "VM images are not supported" in refused(
        create(parent=PARENT, instanceId="vm", body={"gceSetup": {"vmImage": {"family": "tf-latest-gpu"}}})
    )
    two = [{"type": "NVIDIA_TESLA_T4", "coreCount": "1"}] * 2
    assert "one accelerator" in refused(
        create(parent=PARENT, instanceId="x", body={"gceSetup": {"acceleratorConfigs": two}})
    )
    assert "not in the notebook image catalog" in refused(
        create(
            parent=PARENT, instanceId="x", body={"gceSetup": {"containerImage": {"repository": "evil/miner"}}}
        )
    )
    assert "proxy" in refused(create(parent=PARENT, instanceId="x", body={"disableProxyAccess": True}))
    assert "not a field" in refused(create(parent=PARENT, instanceId="x", body={"nope": 1}))
    assert "instanceId" in refused(create(parent=PARENT, instanceId="Bad_Id", body={}))
    assert list(Notebook.objects.values_list("name", flat=True)) == ["lab"]

    viewer = google_api(member(Role.VIEWER), "notebooks", "v2").projects().locations()
    with pytest.raises(HttpError) as denied:
        viewer.instances().stop(name=f"{PARENT}/instances/lab", body={}).execute()
    assert denied.value.resp.status == 403
    stranger = google_api(outsider, "notebooks", "v2").projects().locations()
    with pytest.raises(HttpError) as hidden:
        stranger.instances().get(name=f"{PARENT}/instances/lab").execute()
    assert hidden.value.resp.status == 404


def done(workbench, operation: dict, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while not operation["done"]:
        assert time.monotonic() < deadline, f"{operation['metadata']['verb']} still running"
        sync_workloads.delay()  # beat's job in production
        time.sleep(0.3)
        operation = workbench.operations().get(name=operation["name"]).execute()
    assert "error" not in operation, operation["error"]
    return operation


@pytest.mark.xdist_group("real-worker")
def test_googleapiclient_creates_stops_starts_resets_and_deletes_an_instance(
    workbench, notebook_compute, celery_worker
):
    name = f"{PARENT}/instances/lab"
    instances = workbench.instances()

    created = done(workbench, instances.create(parent=PARENT, instanceId="lab", body={}).execute())
    assert created["response"]["state"] == "ACTIVE"
    assert created["response"]["healthState"] == "HEALTHY"
    first = Notebook.objects.get(name="lab").workload_id

    assert done(workbench, instances.stop(name=name, body={}).execute())["response"]["state"] == "STOPPED"
    assert done(workbench, instances.start(name=name, body={}).execute())["response"]["state"] == "ACTIVE"
    second = Notebook.objects.get(name="lab").workload_id
    assert done(workbench, instances.reset(name=name, body={}).execute())["response"]["state"] == "ACTIVE"
    assert len({first, second, Notebook.objects.get(name="lab").workload_id}) == 3

    done(workbench, instances.delete(name=name).execute())
    with pytest.raises(HttpError) as gone:
        instances.get(name=name).execute()
    assert gone.value.resp.status == 404
    assert not (notebook_compute.root / "volumes" / "team-a" / "lab").exists()
