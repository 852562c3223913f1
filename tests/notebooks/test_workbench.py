"""The Vertex AI Workbench (`notebooks v2`) facade, driven by the real googleapiclient."""

from __future__ import annotations

import json
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
def workbench(google_api, member, project, images, machine_gpus):
    machine_gpus(8)
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    quota(project, "nvidia-tesla-t4", nominal_gpus=2, nominal_cpu=8, nominal_memory_gib=32)
    return google_api(member(Role.EDITOR, "alice"), "notebooks", "v2").projects().locations()


def refused(call) -> str:
    with pytest.raises(HttpError) as caught:
        call.execute()
    assert caught.value.resp.status == 400, caught.value
    return str(caught.value)


def failure(call) -> tuple[int, dict]:
    """The HTTP status and Google error body a refused call answers."""
    with pytest.raises(HttpError) as caught:
        call.execute()
    return caught.value.resp.status, json.loads(caught.value.content)["error"]


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


def test_an_instance_lives_in_the_location_it_was_created_in(workbench, settings):
    settings.PLATFORM_LOCATIONS = ["local", "zone-b"]
    zone_b = "projects/team-a/locations/zone-b"
    instances = workbench.instances()
    instances.create(parent=PARENT, instanceId="lab", body={}).execute()

    remote = instances.create(parent=zone_b, instanceId="remote", body={}).execute()

    assert remote["name"].startswith(f"{zone_b}/operations/")
    assert instances.get(name=f"{zone_b}/instances/remote").execute()["name"] == f"{zone_b}/instances/remote"
    assert Notebook.objects.get(name="remote").location == "zone-b"
    names = lambda parent: [i["name"] for i in instances.list(parent=parent).execute().get("instances", [])]  # noqa: E731
    assert names(PARENT) == [f"{PARENT}/instances/lab"]
    assert names(zone_b) == [f"{zone_b}/instances/remote"]
    assert names("projects/team-a/locations/-") == [f"{zone_b}/instances/remote", f"{PARENT}/instances/lab"]
    elsewhere = f"{zone_b}/instances/lab"
    for call in (
        instances.get(name=elsewhere),
        instances.stop(name=elsewhere, body={}),
        instances.delete(name=elsewhere),
        instances.patch(name=elsewhere, updateMask="labels", body={"labels": {"a": "b"}}),
    ):
        assert failure(call) == (
            404,
            {"code": 404, "message": "Notebook 'lab' was not found.", "status": "NOT_FOUND"},
        )
    assert Notebook.objects.get(name="lab").state == "QUEUED"  # nothing happened to it
    local_operations = workbench.operations().list(name=PARENT).execute()["operations"]
    assert remote["name"] not in [op["name"] for op in local_operations]
    status, error = failure(
        workbench.operations().get(name=f"{PARENT}/operations/{remote['name'].rsplit('/', 1)[1]}")
    )
    assert (status, error["status"]) == (404, "NOT_FOUND")
    status, error = failure(instances.list(parent="projects/team-a/locations/mars"))
    assert (status, error["status"]) == (404, "NOT_FOUND")
    assert "mars" in error["message"]


def test_patch_changes_labels_at_any_time_and_the_shape_of_a_stopped_instance(
    workbench, google_api, api, member, outsider
):
    name = f"{PARENT}/instances/lab"
    instances = workbench.instances()
    instances.create(parent=PARENT, instanceId="lab", body={"labels": {"team": "vision"}}).execute()

    patched = instances.patch(name=name, updateMask="labels", body={"labels": {"team": "nlp"}}).execute()

    assert (patched["done"], patched["metadata"]["verb"]) == (True, "update")
    assert patched["response"]["labels"] == {"team": "nlp"}
    assert instances.get(name=name).execute()["labels"] == {"team": "nlp"}
    gpu_shape = {
        "gceSetup": {
            "machineType": "n1-standard-8",
            "acceleratorConfigs": [{"type": "NVIDIA_TESLA_T4", "coreCount": "2"}],
        }
    }
    status, error = failure(instances.patch(name=name, updateMask="gceSetup.machineType", body=gpu_shape))
    assert (status, error["status"]) == (400, "FAILED_PRECONDITION")
    assert "is PROVISIONING: stop the instance first to change gceSetup.machineType" in error["message"]
    status, error = failure(instances.patch(name=name, updateMask="labels,gceSetup.bootDisk", body={}))
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert "'gceSetup.bootDisk' cannot be updated" in error["message"]
    assert "updateMask" in refused(instances.patch(name=name, body={"labels": {}}))
    assert "keys start with a lowercase letter" in refused(
        instances.patch(name=name, updateMask="labels", body={"labels": {"Bad": "x"}})
    )

    assert done(workbench, instances.stop(name=name, body={}).execute())["response"]["state"] == "STOPPED"
    reshaped = instances.patch(
        name=name, updateMask="gce_setup.machine_type,gceSetup.acceleratorConfigs", body=gpu_shape
    ).execute()

    setup = reshaped["response"]["gceSetup"]
    assert setup["machineType"] == "custom-8-30720"
    assert setup["acceleratorConfigs"] == [{"type": "NVIDIA_TESLA_T4", "coreCount": "2"}]
    native = api(member(Role.VIEWER)).get("/api/projects/team-a/notebooks/lab/").json()
    assert (native["flavor"], native["gpus"], native["cpu"], native["memory_gib"]) == (
        "nvidia-tesla-t4",
        2,
        "8.000",
        "30.000",
    )
    assert native["state"] == "STOPPED"  # a patch does not start it
    unplugged = instances.patch(name=name, updateMask="gceSetup.acceleratorConfigs", body={}).execute()
    assert "acceleratorConfigs" not in unplugged["response"]["gceSetup"]
    assert unplugged["response"]["gceSetup"]["machineType"] == "custom-8-30720"  # what is not masked stays
    assert Notebook.objects.get(name="lab").flavor.name == "cpu"
    assert "not in the notebook image catalog" in refused(
        instances.patch(
            name=name,
            updateMask="gceSetup.containerImage",
            body={"gceSetup": {"containerImage": {"repository": "evil/miner"}}},
        )
    )

    viewer = google_api(member(Role.VIEWER), "notebooks", "v2").projects().locations().instances()
    assert failure(viewer.patch(name=name, updateMask="labels", body={}))[0] == 403
    stranger = google_api(outsider, "notebooks", "v2").projects().locations().instances()
    assert failure(stranger.patch(name=name, updateMask="labels", body={}))[0] == 404
    assert Notebook.objects.get(name="lab").labels == {"team": "nlp"}


def test_operations_can_be_cancelled_while_pending_and_deleted(workbench, google_api, member, outsider):
    operations = workbench.operations()
    created = workbench.instances().create(parent=PARENT, instanceId="lab", body={}).execute()
    assert not created["done"]  # no worker here: it waits in the queue

    assert operations.cancel(name=created["name"], body={}).execute() == {}

    cancelled = operations.get(name=created["name"]).execute()
    assert (cancelled["done"], cancelled["metadata"]["requestedCancellation"]) == (True, True)
    assert cancelled["error"]["code"] == 1  # google.rpc.Code.CANCELLED
    assert workbench.instances().get(name=f"{PARENT}/instances/lab").execute()["state"] == "STOPPED"
    assert operations.cancel(name=created["name"], body={}).execute() == {}  # done: nothing to cancel
    assert operations.get(name=created["name"]).execute() == cancelled

    started = workbench.instances().start(name=f"{PARENT}/instances/lab", body={}).execute()
    reset = workbench.instances().reset(name=f"{PARENT}/instances/lab", body={}).execute()
    operations.cancel(name=reset["name"], body={}).execute()
    noted = operations.get(name=reset["name"]).execute()
    # a reset cannot stop half-way: the request is noted, and it ends as it would have
    assert (noted["done"], noted["metadata"]["requestedCancellation"]) == (False, True)

    viewer = google_api(member(Role.VIEWER), "notebooks", "v2").projects().locations().operations()
    assert failure(viewer.delete(name=started["name"]))[0] == 403
    assert failure(viewer.cancel(name=started["name"], body={}))[0] == 403
    stranger = google_api(outsider, "notebooks", "v2").projects().locations().operations()
    assert failure(stranger.delete(name=started["name"]))[0] == 404
    assert operations.delete(name=started["name"]).execute() == {}
    status, error = failure(operations.get(name=started["name"]))
    assert (status, error["status"]) == (404, "NOT_FOUND")
    assert started["name"] not in [op["name"] for op in operations.list(name=PARENT).execute()["operations"]]
    assert failure(operations.delete(name=started["name"]))[0] == 404
    assert Notebook.objects.get(name="lab").desired_state == "RUNNING"  # deleting it forgot the result only


@pytest.mark.parametrize(
    ("instance_id", "body", "field"),
    [
        ("lab\n", {}, "instanceId"),
        ("lab", {"labels": {"team": "vision\n"}}, "labels.team"),
        ("lab", {"gceSetup": {"machineType": 4}}, "gceSetup.machineType"),
        (
            "lab",
            {"gceSetup": {"acceleratorConfigs": {"type": "NVIDIA_TESLA_T4"}}},
            "gceSetup.acceleratorConfigs",
        ),
        ("lab", {"gceSetup": {"acceleratorConfigs": ["NVIDIA_TESLA_T4"]}}, "gceSetup.acceleratorConfigs[0]"),
        (
            "lab",
            {"gceSetup": {"acceleratorConfigs": [{"type": ["NVIDIA_TESLA_T4"]}]}},
            "gceSetup.acceleratorConfigs[0].type",
        ),
        (
            "lab",
            {"gceSetup": {"acceleratorConfigs": [{"type": "NVIDIA_TESLA_T4", "coreCount": "99999999999"}]}},
            "gceSetup.acceleratorConfigs[0].coreCount",
        ),
        ("lab", {"gceSetup": {"containerImage": "quay.io/jupyter/base-notebook"}}, "gceSetup.containerImage"),
        (
            "lab",
            {"gceSetup": {"containerImage": {"repository": 7, "tag": ["latest"]}}},
            "gceSetup.containerImage.repository",
        ),
        ("lab", {"gceSetup": {"dataDisks": ["20"]}}, "gceSetup.dataDisks[0]"),
        (
            "lab",
            {"gceSetup": {"dataDisks": [{"diskSizeGb": "9223372036854775808"}]}},
            "gceSetup.dataDisks[0].diskSizeGb",
        ),
    ],
)
def test_wrong_types_and_numbers_out_of_range_are_refused_naming_the_field(
    workbench, instance_id, body, field
):
    status, error = failure(workbench.instances().create(parent=PARENT, instanceId=instance_id, body=body))

    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["fieldViolations"][0]["field"] == field
    assert not Notebook.objects.exists()
