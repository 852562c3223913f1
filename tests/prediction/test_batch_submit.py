"""A batch prediction job's submit: what is refused before anything is queued (4xx naming the field,
through the real googleapiclient), and its workload on the Kubernetes API test server (manifests
checked against the Kubernetes schemas)."""

from __future__ import annotations

import json

import pytest
from googleapiclient.errors import HttpError

from mlplatform.compute.models import Workload
from mlplatform.compute.services import admission_pass, workload_start
from mlplatform.compute.spec import spec_from_dict
from mlplatform.core.models import Role
from mlplatform.storage.services import storage_connection_create
from prediction_app.models import Model
from prediction_app.services import version_create
from tests.compute.test_manifests import build, schema_errors
from tests.prediction.conftest import version_body
from tests.prediction.test_kubernetes_versions import ours
from tests.training.test_kubernetes_jobs import cluster  # noqa: F401 - the backend on the test server
from training_app.models import Job
from training_app.services import job_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inputs(team, settings):
    """Two JSON-lines files in the team's local bucket `demo`, and a second bucket it cannot reach."""
    folder = settings.STORAGE_LOCAL_ROOT / "demo" / "in"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("[1, 2, 3, 4]\n" * 30)
    (folder / "b.jsonl").write_text("[5, 6, 7, 8]\n" * 30)
    return team


def body(job_id: str = "scores", **overrides) -> dict:
    return {
        "jobId": job_id,
        "predictionInput": {
            "dataFormat": "JSON",
            "inputPaths": ["gs://demo/in/*.jsonl"],
            "outputPath": "gs://demo/out/scores",
            "uri": "gs://demo/models/iris",
            "region": "us-central1",
            **overrides,
        },
    }


def refusal(jobs, request: dict) -> tuple[int, dict]:
    with pytest.raises(HttpError) as caught:
        jobs.create(parent="projects/team-a", body=request).execute()
    return caught.value.resp.status, json.loads(caught.value.content)["error"]


@pytest.fixture
def jobs(google_api, member):
    return google_api(member(Role.EDITOR)).projects().jobs()


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"inputPaths": ["gs://demo/in/*.csv"]}, "predictionInput.inputPaths[0]", "No input file matches"),
        ({"inputPaths": ["gs://demo/in/missing.jsonl"]}, "predictionInput.inputPaths[0]", "was not found"),
        ({"inputPaths": ["gs://demo/nowhere/*.jsonl"]}, "predictionInput.inputPaths[0]", "No input file"),
        ({"inputPaths": ["gs://demo/*/a.jsonl"]}, "predictionInput.inputPaths[0]", "file's name"),
        ({"outputPath": "gs://elsewhere/out"}, "predictionInput.outputPath", "not reachable"),
        ({"dataFormat": "PARQUET"}, "predictionInput.dataFormat", "not offered"),
        ({"dataFormat": None}, "predictionInput.dataFormat", "is required"),
        ({"outputDataFormat": "TF_RECORD"}, "predictionInput.outputDataFormat", "not offered"),
        ({"uri": "gs://demo/in"}, "predictionInput.uri", "No model files"),
        ({"modelName": "projects/team-a/models/iris"}, "predictionInput.uri", "exactly one"),
        ({"maxWorkerCount": "-1"}, "predictionInput.maxWorkerCount", ""),
        ({"batchSize": "lots"}, "predictionInput.batchSize", ""),
        ({"shards": 3}, "predictionInput.shards", ""),
    ],
    ids=[
        "wildcard-matches-nothing", "missing-file", "missing-folder", "wildcard-in-folder",
        "output-outside-connections", "bad-format", "no-format", "bad-output-format", "no-model-files",
        "two-models", "negative-workers", "bad-batch-size", "unknown-field",
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_field_and_nothing_is_queued(inputs, jobs, overrides, field, words):
    request = body(**overrides)
    request["predictionInput"] = {k: v for k, v in request["predictionInput"].items() if v is not None}
    if "modelName" in overrides:
        request["predictionInput"]["uri"] = "gs://demo/models/iris"

    status, error = refusal(jobs, request)

    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["fieldViolations"][0]["field"] == field, error
    assert words in error["message"]
    assert not Workload.objects.exists()
    assert not Job.objects.exists()


def test_an_output_folder_that_already_holds_results_is_refused(inputs, jobs, settings):
    out = settings.STORAGE_LOCAL_ROOT / "demo" / "out" / "scores"
    out.mkdir(parents=True)
    (out / "prediction.results-00000-of-00001").write_text("{}\n")

    status, error = refusal(jobs, body())

    assert status == 400
    assert "already holds prediction results" in error["message"]


def test_a_model_without_a_default_version_is_refused(inputs, jobs):
    Model.objects.create(project=inputs, name="empty")
    request = body(uri=None, modelName="projects/team-a/models/empty")
    del request["predictionInput"]["uri"]

    status, error = refusal(jobs, request)

    assert status == 400
    assert "has no default version" in error["message"]


def test_a_duplicate_job_id_is_a_conflict(inputs, jobs):
    jobs.create(parent="projects/team-a", body=body()).execute()

    status, error = refusal(jobs, body(outputPath="gs://demo/out/other"))

    assert (status, error["status"]) == (409, "ALREADY_EXISTS")


def test_workers_are_bounded_by_what_the_quota_could_ever_hold(inputs, member):
    # team's quota: 16 vCPUs and 64 GiB; a worker takes 1 vCPU and 2 GiB
    job = job_create(project=inputs, body=body(maxWorkerCount="50"), user=member())

    group = job.workload.spec["groups"][0]
    assert group["count"] == 16
    plan = json.loads(group["env"]["MLPLATFORM_BATCH_JOB"])
    assert len(plan["splits"]) == 16
    covered = sorted((uri, start, end) for run in plan["splits"] for uri, start, end in run)
    assert [c[0] for c in covered].count("gs://demo/in/a.jsonl") > 1  # a file is cut in byte ranges


def test_the_workers_are_an_indexed_job_of_the_predictor_image_on_kubernetes(
    inputs,
    cluster,  # noqa: F811 - the fixture imported above
    member,
    settings,
):
    settings.PREDICTOR_IMAGE = "registry.example/predictor:1"
    storage_connection_create(project=inputs, name="unused", kind="local", buckets=["other"])
    job = job_create(project=inputs, body=body(maxWorkerCount="2"), user=member())
    admission_pass()

    workload_start(workload_id=job.workload.id)

    made = ours(cluster, "Job", job.workload.id.hex)
    assert len(made) == 1
    assert made[0]["spec"]["completions"] == 2
    assert made[0]["spec"]["completionMode"] == "Indexed"
    assert made[0]["spec"]["backoffLimit"] == 3
    container = made[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/predictor:1"
    assert container["command"] == ["python", "-m", "prediction_app.serving.batch"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["MLPLATFORM_BATCH_JOB"])["output_path"] == "gs://demo/out/scores/"


def test_every_object_of_a_batch_job_matches_the_kubernetes_schema(inputs, member):
    job = job_create(project=inputs, body=body(maxWorkerCount="3"), user=member())

    assert schema_errors(build(spec_from_dict(job.workload.spec))) == []


def test_model_name_predicts_with_the_default_version_and_its_framework(inputs, member):
    model = Model.objects.create(project=inputs, name="iris")
    version_create(model=model, body=version_body("v1"), user=member())
    request = body(uri=None, modelName="projects/team-a/models/iris")
    del request["predictionInput"]["uri"]

    job = job_create(project=inputs, body=request, user=member())

    plan = json.loads(job.workload.spec["groups"][0]["env"]["MLPLATFORM_BATCH_JOB"])
    assert plan["model"]["uri"] == "gs://demo/models/iris"
    assert plan["model"]["framework"] == "SCIKIT_LEARN"


def test_a_model_of_another_project_is_refused(inputs, jobs):
    request = body(uri=None, versionName="projects/team-b/models/iris/versions/v1")
    del request["predictionInput"]["uri"]

    status, error = refusal(jobs, request)

    assert status == 400
    assert error["details"][0]["fieldViolations"][0]["field"] == "predictionInput.versionName"
