"""`projects.jobs` with the real googleapiclient against a live console: create, get, list (paging,
filter), patch of labels, cancel, and bad input in Google's error shape."""

from __future__ import annotations

import json

import pytest
from googleapiclient.errors import HttpError

from mlplatform.compute.models import Workload
from mlplatform.compute.spec import ReplicaGroup, WorkloadKind, WorkloadSpec
from mlplatform.core.models import Role
from mlplatform.storage.services import storage_connection_create
from tests.factories import quota
from tests.packages import uploaded
from tests.stores import S3_KEY_ID, S3_SECRET, aws_client, free_port, gcs_client, unique_bucket
from training_app import jobs as job_kinds
from training_app.jobs import JobKind, JobPlan
from training_app.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(project, settings, tmp_path, seeded_catalog):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    uploaded(settings.STORAGE_LOCAL_ROOT / "demo")  # the trainer packages its jobs name
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=64)
    quota(project, "nvidia-tesla-t4", nominal_gpus=2, nominal_cpu=16, nominal_memory_gib=64)
    return project


@pytest.fixture
def jobs(google_api, member):
    return google_api(member(Role.EDITOR)).projects().jobs()


def training_input(**overrides) -> dict:
    return {
        "scaleTier": "BASIC",
        "packageUris": ["gs://demo/packages/trainer-0.1.tar.gz"],
        "pythonModule": "trainer.task",
        "region": "us-central1",
        "args": ["--epochs", "1"],
        **overrides,
    }


def error_of(caught) -> dict:
    return json.loads(caught.value.content)["error"]


def test_create_get_list_patch_and_cancel(team, jobs):
    created = jobs.create(
        parent="projects/team-a",
        body={"jobId": "mnist_1", "trainingInput": training_input(), "labels": {"a": "b"}},
    ).execute()

    assert created["jobId"] == "mnist_1"
    assert created["state"] == "QUEUED"
    assert created["trainingInput"]["pythonModule"] == "trainer.task"
    assert created["createTime"].endswith("Z")
    got = jobs.get(name="projects/team-a/jobs/mnist_1").execute()
    assert got["etag"] == created["etag"]

    patched = jobs.patch(
        name="projects/team-a/jobs/mnist_1",
        updateMask="labels",
        body={"labels": {"team": "vision"}, "etag": got["etag"]},
    ).execute()
    assert patched["labels"] == {"team": "vision"}

    for i in range(3):
        jobs.create(
            parent="projects/team-a", body={"jobId": f"other_{i}", "trainingInput": training_input()}
        ).execute()
    first = jobs.list(parent="projects/team-a", pageSize=2).execute()
    second = jobs.list(parent="projects/team-a", pageSize=2, pageToken=first["nextPageToken"]).execute()
    vision = jobs.list(parent="projects/team-a", filter="labels.team=vision").execute()
    assert [j["jobId"] for j in first["jobs"] + second["jobs"]] == [
        "other_2",
        "other_1",
        "other_0",
        "mnist_1",
    ]
    assert [j["jobId"] for j in vision["jobs"]] == ["mnist_1"]

    assert jobs.cancel(name="projects/team-a/jobs/mnist_1", body={}).execute() == {}
    assert jobs.get(name="projects/team-a/jobs/mnist_1").execute()["state"] == "CANCELLED"
    cancelled = jobs.list(parent="projects/team-a", filter="state=CANCELLED").execute()
    assert [j["jobId"] for j in cancelled["jobs"]] == ["mnist_1"]
    with pytest.raises(HttpError) as caught:
        jobs.cancel(name="projects/team-a/jobs/mnist_1", body={}).execute()
    assert error_of(caught)["status"] == "FAILED_PRECONDITION"


def test_a_job_over_quota_is_queued_with_its_position(team, jobs):
    gpu = {
        "scaleTier": "CUSTOM",
        "masterType": "n1-standard-4",
        "masterConfig": {"acceleratorConfig": {"count": "2", "type": "NVIDIA_TESLA_T4"}},
    }
    jobs.create(
        parent="projects/team-a", body={"jobId": "first", "trainingInput": training_input(**gpu)}
    ).execute()
    from mlplatform.compute.services import admission_pass

    admission_pass()
    jobs.create(
        parent="projects/team-a", body={"jobId": "second", "trainingInput": training_input(**gpu)}
    ).execute()
    admission_pass()

    second = jobs.get(name="projects/team-a/jobs/second").execute()
    assert second["state"] == "QUEUED"
    assert second["jobPosition"] == "1"
    assert jobs.get(name="projects/team-a/jobs/first").execute()["state"] == "PREPARING"

    jobs.cancel(name="projects/team-a/jobs/first", body={}).execute()  # its quota frees
    admission_pass()
    second = jobs.get(name="projects/team-a/jobs/second").execute()
    assert second["state"] == "PREPARING"
    assert "jobPosition" not in second


def test_a_duplicate_job_id_is_already_exists(team, jobs):
    body = {"jobId": "twice", "trainingInput": training_input()}
    jobs.create(parent="projects/team-a", body=body).execute()
    with pytest.raises(HttpError) as caught:
        jobs.create(parent="projects/team-a", body=body).execute()
    assert (caught.value.resp.status, error_of(caught)["status"]) == (409, "ALREADY_EXISTS")
    assert Job.objects.count() == 1
    assert Workload.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"jobId": "bad-id", "trainingInput": training_input()}, "jobId"),
        ({"jobId": "j", "trainingInput": training_input(masterType="n9-giant")}, "trainingInput.masterType"),
        ({"jobId": "j", "trainingInput": training_input(pythonModule=None)}, "trainingInput.pythonModule"),
        (
            {"jobId": "j", "trainingInput": training_input(packageUris=["gs://someone-else/p.tar.gz"])},
            "trainingInput.packageUris[0]",
        ),
        (
            {"jobId": "j", "trainingInput": training_input(scheduling={"maxRunningTime": "an hour"})},
            "trainingInput.scheduling.maxRunningTime",
        ),
        ({"jobId": "j_1\n", "trainingInput": training_input()}, "jobId"),
        ({"jobId": "j", "trainingInput": training_input(), "labels": {"team": "nlp\n"}}, "labels.team"),
        ({"jobId": "j", "trainingInput": training_input(), "labels": {"team\n": "nlp"}}, "labels.team\n"),
        (
            {"jobId": "j", "trainingInput": training_input(packageUris=["gs://demo//etc/passwd"])},
            "trainingInput.packageUris[0]",
        ),
        (
            {"jobId": "j", "trainingInput": training_input(packageUris=["gs://demo/p.tar.gz\n"])},
            "trainingInput.packageUris[0]",
        ),
        (
            {"jobId": "j", "trainingInput": training_input(scheduling={"maxWaitTime": "999999999999s"})},
            "trainingInput.scheduling.maxWaitTime",
        ),
        (
            {"jobId": "j", "trainingInput": training_input(scheduling={"maxWaitTime": "3000000000s"})},
            "trainingInput.scheduling.maxWaitTime",
        ),
        (
            {"jobId": "j", "trainingInput": training_input(hyperparameters={"goal": "MAXIMIZE"})},
            "trainingInput.hyperparameters.params",
        ),
        (
            {
                "jobId": "j",
                "trainingInput": training_input(
                    scaleTier="CUSTOM",
                    masterType="n1-standard-4",
                    masterConfig={"acceleratorConfig": {"count": "1", "type": "NVIDIA_TESLA_P100_XL"}},
                ),
            },
            "trainingInput.masterConfig.acceleratorConfig.type",
        ),
    ],
)
def test_bad_jobs_are_invalid_argument_naming_the_field(team, jobs, body, field):
    body["trainingInput"] = {k: v for k, v in body["trainingInput"].items() if v is not None}
    with pytest.raises(HttpError) as caught:
        jobs.create(parent="projects/team-a", body=body).execute()

    error = error_of(caught)
    assert (caught.value.resp.status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["fieldViolations"][0]["field"] == field
    assert not Job.objects.exists()
    assert not Workload.objects.exists()


def test_more_gpus_than_any_quota_could_give_is_refused(team, jobs):
    too_many = training_input(
        scaleTier="CUSTOM",
        masterType="n1-standard-4",
        masterConfig={"acceleratorConfig": {"count": "4", "type": "NVIDIA_TESLA_T4"}},
    )
    with pytest.raises(HttpError) as caught:
        jobs.create(parent="projects/team-a", body={"jobId": "huge", "trainingInput": too_many}).execute()
    assert caught.value.resp.status == 400
    assert "can never" in error_of(caught)["message"]


def test_only_labels_can_be_patched_and_viewers_cannot_write(team, jobs, google_api, member):
    jobs.create(parent="projects/team-a", body={"jobId": "p", "trainingInput": training_input()}).execute()
    with pytest.raises(HttpError) as caught:
        jobs.patch(name="projects/team-a/jobs/p", updateMask="trainingInput", body={}).execute()
    assert error_of(caught)["details"][0]["fieldViolations"][0]["field"] == "updateMask"

    viewer = google_api(member(Role.VIEWER)).projects().jobs()
    assert viewer.get(name="projects/team-a/jobs/p").execute()["jobId"] == "p"
    with pytest.raises(HttpError) as caught:
        viewer.cancel(name="projects/team-a/jobs/p", body={}).execute()
    assert caught.value.resp.status == 403


# --- jobs of every kind ----------------------------------------------------------------------------


def test_a_batch_prediction_job_goes_to_its_kind_which_refuses_a_missing_field_and_writes_nothing(team, jobs):
    body = {
        "jobId": "predict_1",
        "predictionInput": {"dataFormat": "JSON", "inputPaths": ["gs://demo/in/*"], "region": "us-central1"},
    }
    with pytest.raises(HttpError) as caught:
        jobs.create(parent="projects/team-a", body=body).execute()

    error = error_of(caught)
    assert (caught.value.resp.status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["fieldViolations"][0]["field"] == "predictionInput.outputPath"
    assert "is required" in error["message"]
    assert not Job.objects.exists()
    assert not Workload.objects.exists()


def test_both_inputs_at_once_are_refused(team, jobs):
    body = {"jobId": "j", "trainingInput": training_input(), "predictionInput": {"dataFormat": "JSON"}}
    with pytest.raises(HttpError) as caught:
        jobs.create(parent="projects/team-a", body=body).execute()

    assert error_of(caught)["details"][0]["fieldViolations"][0]["field"] == "predictionInput"
    assert not Job.objects.exists()


@pytest.fixture
def prediction_kind():
    """A predictionInput builder registered as prediction_app will register one: a CPU server."""
    saved = dict(job_kinds._kinds)

    def plan(*, project, job_id, input, labels):
        group = ReplicaGroup(role="worker", count=1, image="predictor:1", command=("predict",))
        return JobPlan(
            spec=WorkloadSpec(name=job_id.replace("_", "-"), kind=WorkloadKind.BATCH, groups=(group,))
        )

    job_kinds.register_job_kind(
        JobKind(
            input_field="predictionInput",
            output_field="predictionOutput",
            plan=plan,
            output=lambda job: {"predictionCount": "0"},
            page="training-job",
        )
    )
    yield
    job_kinds._kinds.clear()
    job_kinds._kinds.update(saved)


def test_jobs_of_either_kind_are_listed_filtered_patched_and_cancelled_alike(team, jobs, prediction_kind):
    jobs.create(
        parent="projects/team-a", body={"jobId": "train_1", "trainingInput": training_input()}
    ).execute()
    created = jobs.create(
        parent="projects/team-a",
        body={"jobId": "predict_1", "predictionInput": {"dataFormat": "JSON"}, "labels": {"kind": "batch"}},
    ).execute()

    assert created["predictionInput"] == {"dataFormat": "JSON"}
    assert created["predictionOutput"] == {"predictionCount": "0"}
    assert {"trainingInput", "trainingOutput"}.isdisjoint(created)
    listed = jobs.list(parent="projects/team-a").execute()["jobs"]
    assert [(j["jobId"], "trainingInput" in j, "predictionInput" in j) for j in listed] == [
        ("predict_1", False, True),
        ("train_1", True, False),
    ]
    batch = jobs.list(parent="projects/team-a", filter="labels.kind=batch").execute()["jobs"]
    assert [j["jobId"] for j in batch] == ["predict_1"]
    patched = jobs.patch(
        name="projects/team-a/jobs/predict_1", updateMask="labels", body={"labels": {"kind": "nightly"}}
    ).execute()
    assert patched["labels"] == {"kind": "nightly"}

    assert jobs.cancel(name="projects/team-a/jobs/predict_1", body={}).execute() == {}
    cancelled = jobs.list(parent="projects/team-a", filter="state=CANCELLED").execute()["jobs"]
    assert [j["jobId"] for j in cancelled] == ["predict_1"]
    assert jobs.get(name="projects/team-a/jobs/train_1").execute()["state"] == "QUEUED"


def test_a_missing_package_is_refused_at_submit_naming_its_field_and_uri(team, jobs, settings):
    body = {
        "jobId": "gone",
        "trainingInput": training_input(
            packageUris=["gs://demo/packages/trainer-0.1.tar.gz", "gs://demo/packages/gone.tar.gz"]
        ),
    }

    with pytest.raises(HttpError) as caught:
        jobs.create(parent="projects/team-a", body=body).execute()

    error = json.loads(caught.value.content)["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(
        "trainingInput.packageUris[1]: gs://demo/packages/gone.tar.gz was not found"
    )
    assert (
        str(settings.STORAGE_LOCAL_ROOT) not in caught.value.content.decode()
    )  # never where the bucket lives
    assert not Job.objects.exists()


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_packages_in_s3_and_gcs_buckets_are_checked_at_submit(team, jobs, request, kind):
    bucket = unique_bucket()
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        request.getfixturevalue("s3_bucket_factory")(bucket)
        aws_client(endpoint).put_object(Bucket=bucket, Key="trainer-0.1.tar.gz", Body=b"a package")
        credentials = {"access_key_id": S3_KEY_ID, "secret_access_key": S3_SECRET}
        scheme = "s3"
    else:
        endpoint = request.getfixturevalue("gcs_endpoint")
        request.getfixturevalue("gcs_bucket_factory")(bucket)
        gcs_client(endpoint).bucket(bucket).blob("trainer-0.1.tar.gz").upload_from_string(b"a package")
        credentials, scheme = {}, "gs"
    storage_connection_create(
        project=team, name=kind, kind=kind, buckets=[bucket], endpoint_url=endpoint, credentials=credentials
    )
    there, gone = f"{scheme}://{bucket}/trainer-0.1.tar.gz", f"{scheme}://{bucket}/gone.tar.gz"

    made = jobs.create(
        parent="projects/team-a",
        body={"jobId": "there", "trainingInput": training_input(packageUris=[there])},
    ).execute()
    with pytest.raises(HttpError) as caught:
        jobs.create(
            parent="projects/team-a",
            body={"jobId": "gone", "trainingInput": training_input(packageUris=[gone])},
        ).execute()

    assert made["jobId"] == "there"
    assert caught.value.resp.status == 400
    assert json.loads(caught.value.content)["error"]["message"].startswith(
        f"trainingInput.packageUris[0]: {gone} was not found"
    )


def test_a_package_in_a_store_that_cannot_answer_now_is_accepted(team, jobs):
    # Nothing listens on this port: the package cannot be checked, so the job is taken and its
    # runner's download reports the URI if it fails.
    storage_connection_create(
        project=team,
        name="away",
        kind="s3",
        buckets=["away"],
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        credentials={"access_key_id": S3_KEY_ID, "secret_access_key": S3_SECRET},
    )

    made = jobs.create(
        parent="projects/team-a",
        body={"jobId": "away", "trainingInput": training_input(packageUris=["s3://away/trainer-0.1.tar.gz"])},
    ).execute()

    assert made["jobId"] == "away"
