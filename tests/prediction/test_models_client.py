"""`projects.models`, `projects.models.versions` and `projects.predict` with the real googleapiclient
against a live console: the lifecycle of a version follows its workload (moved by hand here; the
end-to-end test runs the real predictor), predictions go through the gateway to a stand-in."""

from __future__ import annotations

import json

import pytest
from googleapiclient.errors import HttpError

from mlplatform.compute.models import Workload
from mlplatform.core.models import Role
from mlplatform.gcp.models import Operation
from prediction_app import services
from prediction_app.models import Model, Version
from tests.prediction.conftest import MODEL_URI, version_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ml(google_api, member):
    return google_api(member(Role.EDITOR, "erin"))


def error_of(caught) -> dict:
    return json.loads(caught.value.content)["error"]


def run(version_name: str = "v1", model: str = "iris") -> Workload:
    """The version's workload reaches RUNNING, as compute's sync would record it."""
    version = Version.objects.get(model__name=model, name=version_name)
    Workload.objects.filter(pk=version.workload_id).update(state=Workload.State.RUNNING, backend="local")
    services.versions_sync()
    return Workload.objects.get(pk=version.workload_id)


def test_create_a_model_and_a_version_wait_for_it_predict_set_default_patch_and_delete(
    team, ml, stand_in, iris_model
):
    models = ml.projects().models()
    versions = models.versions()
    created = models.create(
        parent="projects/team-a", body={"name": "iris", "description": "flowers"}
    ).execute()
    assert created["name"] == "iris"
    assert created["regions"] == ["local"]
    assert models.list(parent="projects/team-a").execute()["models"][0]["name"] == "iris"

    operation = versions.create(parent="projects/team-a/models/iris", body=version_body()).execute()

    assert operation["done"] is False
    assert operation["metadata"]["@type"] == "type.googleapis.com/google.cloud.ml.v1.OperationMetadata"
    assert operation["metadata"]["operationType"] == "CREATE_VERSION"
    assert operation["metadata"]["modelName"] == "projects/team-a/models/iris"
    assert operation["metadata"]["version"]["name"] == "projects/team-a/models/iris/versions/v1"
    got = versions.get(name="projects/team-a/models/iris/versions/v1").execute()
    assert (got["state"], got["isDefault"], got["machineType"]) == ("CREATING", True, "mls1-c1-m2")
    assert got["manualScaling"] == {"nodes": 1}
    workload = Workload.objects.get()
    assert workload.kind == "service"
    assert workload.spec["storage"] == ["local"]

    run()
    done = ml.projects().operations().get(name=operation["name"]).execute()
    assert done["done"] is True
    assert done["response"]["state"] == "READY"
    assert done["response"]["@type"] == "type.googleapis.com/google.cloud.ml.v1.Version"

    instances = iris_model[1][:3].tolist()
    answer = (
        ml.projects().predict(name="projects/team-a/models/iris", body={"instances": instances}).execute()
    )
    assert answer == {"predictions": iris_model[0].predict(instances).tolist()}
    by_version = (
        ml.projects()
        .predict(name="projects/team-a/models/iris/versions/v1", body={"instances": instances})
        .execute()
    )
    assert by_version == answer
    with pytest.raises(HttpError) as caught:
        ml.projects().predict(name="projects/team-a/models/iris", body={"instances": [[1, 2]]}).execute()
    assert caught.value.resp.status == 400
    assert json.loads(caught.value.content)["error"].startswith("Prediction failed: ")

    versions.create(parent="projects/team-a/models/iris", body=version_body("v2")).execute()
    run("v2")
    assert versions.get(name="projects/team-a/models/iris/versions/v2").execute().get("isDefault") is None
    with pytest.raises(HttpError) as caught:
        versions.delete(name="projects/team-a/models/iris/versions/v1").execute()
    assert "Cannot delete the default version" in error_of(caught)["message"]
    now_default = versions.setDefault(name="projects/team-a/models/iris/versions/v2", body={}).execute()
    assert now_default["isDefault"] is True
    assert models.get(name="projects/team-a/models/iris").execute()["defaultVersion"]["name"].endswith("/v2")

    patched = versions.patch(
        name="projects/team-a/models/iris/versions/v1", updateMask="description", body={"description": "old"}
    ).execute()
    assert patched["done"] is True
    assert patched["response"]["description"] == "old"
    model_patch = models.patch(
        name="projects/team-a/models/iris", updateMask="description", body={"description": "irises"}
    ).execute()
    assert model_patch["metadata"]["operationType"] == "UPDATE_MODEL"
    assert models.get(name="projects/team-a/models/iris").execute()["description"] == "irises"

    with pytest.raises(HttpError) as caught:
        models.delete(name="projects/team-a/models/iris").execute()
    assert "A model with versions cannot be deleted" in error_of(caught)["message"]
    deleting = versions.delete(name="projects/team-a/models/iris/versions/v1").execute()
    assert deleting["metadata"]["operationType"] == "DELETE_VERSION"
    assert versions.get(name="projects/team-a/models/iris/versions/v1").execute()["state"] == "DELETING"
    Workload.objects.filter(state=Workload.State.CANCELLING).update(state=Workload.State.CANCELLED)
    services.versions_sync()
    assert ml.projects().operations().get(name=deleting["name"]).execute()["done"] is True
    listed = versions.list(parent="projects/team-a/models/iris").execute()
    assert [v["name"].rsplit("/", 1)[1] for v in listed["versions"]] == ["v2"]


def test_a_model_that_cannot_load_fails_its_version_with_the_loaders_line_and_frees_its_quota(
    team, ml, monkeypatch
):
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    operation = (
        ml.projects()
        .models()
        .versions()
        .create(parent="projects/team-a/models/iris", body=version_body())
        .execute()
    )
    workload = run()
    restarting = {
        "role": "server",
        "index": 0,
        "phase": "pending",
        "restarts": 1,
        "message": "exit code 3, restarting",
    }
    Workload.objects.filter(pk=workload.pk).update(state=Workload.State.STARTING, replicas=[restarting])
    line = "Bad model detected with error: cannot unpickle model.joblib"
    monkeypatch.setattr("prediction_app.services.workload_log_tail", lambda **kw: ["loading", line])

    services.versions_sync()
    services.versions_sync()  # twice changes nothing more

    got = ml.projects().models().versions().get(name="projects/team-a/models/iris/versions/v1").execute()
    assert got["state"] == "FAILED"
    assert got["errorMessage"] == f"Create Version failed. {line}"
    assert Workload.objects.get(pk=workload.pk).state in (Workload.State.CANCELLING, Workload.State.CANCELLED)
    done = ml.projects().operations().get(name=operation["name"]).execute()
    assert done["error"]["message"] == f"Create Version failed. {line}"


def test_cancelling_a_pending_create_stops_its_workload(team, ml):
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    operation = (
        ml.projects()
        .models()
        .versions()
        .create(parent="projects/team-a/models/iris", body=version_body())
        .execute()
    )

    assert ml.projects().operations().cancel(name=operation["name"]).execute() == {}

    assert Workload.objects.get().state == Workload.State.CANCELLED
    done = ml.projects().operations().get(name=operation["name"]).execute()
    assert done["done"] is True
    assert done["error"]["code"] == 1
    assert Version.objects.get().state == "FAILED"


def test_autoscaling_is_admitted_for_max_nodes_and_a_patch_of_min_nodes_replaces_the_workload(team, ml):
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    body = version_body(machineType="n1-standard-4", autoScaling={"minNodes": 1, "maxNodes": 3})
    ml.projects().models().versions().create(parent="projects/team-a/models/iris", body=body).execute()
    first = run()
    assert first.spec["groups"][0]["count"] == 1
    assert first.spec["groups"][0]["max_count"] == 3
    assert {r.flavor.name: r.cpu for r in first.requests.select_related("flavor")} == {"cpu": 12}

    operation = (
        ml.projects()
        .models()
        .versions()
        .patch(
            name="projects/team-a/models/iris/versions/v1",
            updateMask="autoScaling.minNodes",
            body={"autoScaling": {"minNodes": 2}},
        )
        .execute()
    )

    assert operation["done"] is False
    got = ml.projects().models().versions().get(name="projects/team-a/models/iris/versions/v1").execute()
    assert got["state"] == "UPDATING"
    assert got["autoScaling"] == {"minNodes": 2, "maxNodes": 3}
    second = run()
    assert second.pk != first.pk
    assert second.spec["groups"][0]["count"] == 2
    assert Workload.objects.get(pk=first.pk).state in (Workload.State.CANCELLING, Workload.State.CANCELLED)
    assert ml.projects().operations().get(name=operation["name"]).execute()["done"] is True


def test_a_version_is_admitted_for_its_prediction_machine_type(team, ml):
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    for name, machine in (("v1", None), ("v2", "mls1-c4-m2")):
        body = version_body(name, **({"machineType": machine} if machine else {}))
        ml.projects().models().versions().create(parent="projects/team-a/models/iris", body=body).execute()

    shapes = {
        version.name: [(r.cpu, r.memory_gib) for r in version.workload.requests.all()]
        for version in Version.objects.select_related("workload")
    }
    got = ml.projects().models().versions().get(name="projects/team-a/models/iris/versions/v2").execute()

    assert shapes == {"v1": [(1, 2)], "v2": [(4, 2)]}  # mls1-c1-m2 by default, as AI Platform's
    assert got["machineType"] == "mls1-c4-m2"


def test_a_duplicate_model_is_already_exists(team, ml):
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    with pytest.raises(HttpError) as caught:
        ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    assert (caught.value.resp.status, error_of(caught)["status"]) == (409, "ALREADY_EXISTS")
    assert Model.objects.count() == 1


def test_an_empty_listing_is_an_empty_object(team, ml):
    assert ml.projects().models().list(parent="projects/team-a").execute() == {}
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    assert ml.projects().models().versions().list(parent="projects/team-a/models/iris").execute() == {}


@pytest.mark.parametrize("name", ["1iris", "iris-flowers", "", "i" * 129])
def test_bad_model_names_are_refused(team, ml, name):
    with pytest.raises(HttpError) as caught:
        ml.projects().models().create(parent="projects/team-a", body={"name": name}).execute()
    assert error_of(caught)["details"][0]["fieldViolations"][0]["field"] == "model.name"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (version_body(name="v-1"), "version.name", "letter"),
        (
            version_body(autoScaling={"minNodes": 3, "maxNodes": 2}),
            "version.autoScaling.minNodes",
            "maxNodes",
        ),
        (version_body(machineType="n9-giant"), "version.machineType", "not a machine type"),
        (version_body(machineType="complex_model_m"), "version.machineType", "mls1-c4-m2"),  # training's
        (
            version_body(machineType="n1-standard-4", acceleratorConfig={"type": "TPU_V9", "count": 1}),
            "version.acceleratorConfig.type",
            "not an accelerator",
        ),
        (version_body(deploymentUri="gs://someone-else/model/"), "version.deploymentUri", "not reachable"),
        (version_body(deploymentUri="gs://demo/empty/"), "version.deploymentUri", "Model files not found"),
        (version_body(framework="PYTORCH"), "version.framework", "not a framework"),
        (
            {"name": "c", "container": {"image": "me/server", "env": [{"name": "AIP_MODE", "value": "x"}]}},
            "version.container.env[0].name",
            "AIP_",
        ),
        (
            {"name": "c", "framework": "SCIKIT_LEARN", "container": {"image": "me/server"}},
            "version.framework",
            "custom container",
        ),
        (version_body(serviceAccount="me@x.iam"), "version.serviceAccount", "not supported"),
    ],
)
def test_bad_versions_are_refused_naming_the_field_and_nothing_is_written(
    team, ml, body, field, words, settings
):
    settings.COMPUTE_BACKEND = "kubernetes"  # a custom container needs an image backend
    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    with pytest.raises(HttpError) as caught:
        ml.projects().models().versions().create(parent="projects/team-a/models/iris", body=body).execute()
    error = error_of(caught)
    assert caught.value.resp.status == 400
    assert error["details"][0]["fieldViolations"][0]["field"] == field
    assert words in error["message"]
    assert (Version.objects.count(), Workload.objects.count(), Operation.objects.count()) == (0, 0, 0)


def test_predict_refuses_bodies_too_big_and_not_json(team, ml, stand_in, live_server, token_for, member):
    import requests

    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    ml.projects().models().versions().create(
        parent="projects/team-a/models/iris", body=version_body()
    ).execute()
    run()
    url = f"{live_server.url}/v1/projects/team-a/models/iris:predict"
    headers = {
        "Authorization": f"Bearer {token_for(member(Role.EDITOR, 'ed'))}",
        "Content-Type": "application/json",
    }

    big = requests.post(
        url, data=b'{"instances": ["' + b"x" * 1_572_864 + b'"]}', headers=headers, timeout=30
    )
    garbled = requests.post(url, data=b"{not json", headers=headers, timeout=30)
    anonymous = requests.post(url, data=b"{}", timeout=30)

    assert big.status_code == 400
    assert big.json()["error"]["message"] == "Request payload size exceeds the limit: 1572864 bytes."
    assert garbled.status_code == 400
    assert garbled.json()["error"]["message"].startswith("Invalid JSON payload received.")
    assert anonymous.status_code == 401


def test_predict_is_for_editors_viewers_get_403_and_outsiders_404(
    team, google_api, member, outsider, stand_in
):
    google_api(member(Role.EDITOR)).projects().models().create(
        parent="projects/team-a", body={"name": "iris"}
    ).execute()
    body = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
    for who, status in ((member(Role.VIEWER), 403), (outsider, 404)):
        with pytest.raises(HttpError) as caught:
            google_api(who).projects().predict(name="projects/team-a/models/iris", body=body).execute()
        assert caught.value.resp.status == status
    assert MODEL_URI.startswith("gs://demo/")


def test_predict_under_uvicorn_goes_through_the_gateway_before_django(
    team, ml, stand_in, console_url, token_for, member, iris_model
):
    import requests

    ml.projects().models().create(parent="projects/team-a", body={"name": "iris"}).execute()
    ml.projects().models().versions().create(
        parent="projects/team-a/models/iris", body=version_body()
    ).execute()
    run()
    headers = {"Authorization": f"Bearer {token_for(member(Role.EDITOR, 'ed'))}"}
    instances = iris_model[1][:2].tolist()

    answer = requests.post(
        f"{console_url}/v1/projects/team-a/models/iris/versions/v1:predict",
        json={"instances": instances},
        headers=headers,
        timeout=30,
    )
    outsider = requests.post(
        f"{console_url}/v1/projects/team-a/models/iris:predict",
        json={"instances": instances},
        headers={"Authorization": "Bearer nobody"},
        timeout=30,
    )

    wrong_method = requests.get(
        f"{console_url}/v1/projects/team-a/models/iris:predict", headers=headers, timeout=30
    )

    assert answer.json() == {"predictions": iris_model[0].predict(instances).tolist()}
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, 405)
    assert outsider.status_code == 404
    assert outsider.json()["error"]["status"] == "NOT_FOUND"


def test_a_model_with_online_prediction_logging_gets_a_line_per_prediction(team, ml, stand_in, caplog):
    """As AI Platform's onlinePredictionLogging: off by default (the web server's access log leaves
    predictions out, compute.forwarding.access_log), a line per call where the model asks for it."""
    for name, logged in (("quiet", False), ("loud", True)):
        body = {"name": name, "onlinePredictionLogging": logged}
        ml.projects().models().create(parent="projects/team-a", body=body).execute()
        ml.projects().models().versions().create(
            parent=f"projects/team-a/models/{name}", body=version_body()
        ).execute()
        run(model=name)
    instances = {"instances": [[5.1, 3.5, 1.4, 0.2]]}

    with caplog.at_level("INFO", logger="mlplatform.prediction.access"):
        for name in ("quiet", "loud", "loud"):
            ml.projects().predict(name=f"projects/team-a/models/{name}", body=instances).execute()

    lines = [r.getMessage() for r in caplog.records if r.name == "mlplatform.prediction.access"]
    assert len(lines) == 2
    assert all('"POST /v1/projects/team-a/models/loud:predict" 200' in line for line in lines)
