"""A version on the Kubernetes backend: its manifests match the Kubernetes schemas, and on the
Kubernetes API test server an autoscaled version is a Deployment of the predictor image with its
health route as readiness, a Service on its port and an HPA between minNodes and maxNodes."""

from __future__ import annotations

import pytest

from mlplatform.compute.backends.base import LABEL_WORKLOAD
from mlplatform.compute.services import admission_pass, workload_start
from mlplatform.compute.spec import Resources
from prediction_app.inputs import version_input_from_json
from prediction_app.models import Model, Version
from prediction_app.services import version_create
from prediction_app.specs import version_spec
from tests.compute.test_manifests import build, schema_errors
from tests.prediction.conftest import version_body
from tests.training.test_kubernetes_jobs import cluster  # noqa: F401 - the backend on the test server

CUSTOM = {
    "name": "custom",
    "machineType": "n1-standard-4",
    "container": {
        "image": "me/server:1",
        "args": ["--port", "9000"],
        "env": [{"name": "MODE", "value": "fast"}],
        "ports": [{"containerPort": 9000}],
    },
}


@pytest.mark.parametrize(
    "body",
    [
        version_body(autoScaling={"minNodes": 1, "maxNodes": 4}),
        version_body(manualScaling={"nodes": 2}),
        CUSTOM,
    ],
    ids=["autoscaled", "manual", "custom-container"],
)
def test_every_object_of_a_version_matches_the_kubernetes_schema(body):
    spec = version_spec(
        version_input_from_json(body),
        model="iris",
        resources=Resources(cpu=4, memory_gib=15),
        image="mlplatform/predictor:1",
        storage=("local",),
    )

    assert schema_errors(build(spec)) == []


def test_a_custom_container_gets_aip_variables_and_its_port():
    spec = version_spec(
        version_input_from_json(CUSTOM), model="iris", resources=Resources(), image="unused", storage=()
    )
    group = spec.groups[0]

    assert (group.image, group.ports, group.local) == ("me/server:1", (9000,), None)
    assert group.env["AIP_HTTP_PORT"] == "9000"
    assert group.env["AIP_PREDICT_ROUTE"] == "/v1/models/iris/versions/custom:predict"
    assert group.env["MODE"] == "fast"
    assert group.readiness_path == "/v1/models/iris/versions/custom"


def ours(kube, kind: str, workload_id: str) -> list[dict]:
    return [
        o
        for o in kube.objects(kind)
        if (o["metadata"].get("labels") or {}).get(LABEL_WORKLOAD) == workload_id
    ]


@pytest.mark.django_db(transaction=True)
def test_an_autoscaled_version_is_a_deployment_a_service_and_an_hpa(team, cluster, member, settings):  # noqa: F811
    settings.PREDICTOR_IMAGE = "registry.example/predictor:1"
    model = Model.objects.create(project=team, name="iris")
    body = version_body(machineType="n1-standard-4", autoScaling={"minNodes": 1, "maxNodes": 3})
    version_create(model=model, body=body, user=member())
    workload = Version.objects.get().workload
    admission_pass()

    workload_start(workload_id=workload.id)

    deployment = ours(cluster, "Deployment", workload.id.hex)[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/predictor:1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["port"] == 8080
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["AIP_HTTP_PORT"], env["MLPLATFORM_HOST"]) == ("8080", "0.0.0.0")
    assert env["AIP_STORAGE_URI"] == "gs://demo/models/iris/"
    assert env["MLPLATFORM_FRAMEWORK"] == "SCIKIT_LEARN"
    service = ours(cluster, "Service", workload.id.hex)[0]
    assert [p["port"] for p in service["spec"]["ports"]] == [8080]
    hpa = ours(cluster, "HorizontalPodAutoscaler", workload.id.hex)[0]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
