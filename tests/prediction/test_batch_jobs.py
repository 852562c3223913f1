"""Batch prediction jobs end to end on the local backend: the real googleapiclient submits a job
with `predictionInput`, a real Celery worker admits it, two worker processes read their splits of
files in the project's local bucket, predict with a scikit-learn model trained here and commit
their shards; the job's output counts what they wrote."""

from __future__ import annotations

import ast
import json
import time

import pytest

from mlplatform.compute.tasks import sync_workloads
from mlplatform.core.models import Role
from training_app.models import Job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("real-worker")]


@pytest.fixture
def jobs(google_api, member, celery_worker):
    return google_api(member(Role.EDITOR)).projects().jobs()


def bucket(settings, key: str):
    return settings.STORAGE_LOCAL_ROOT / "demo" / key


def put(settings, key: str, text: str) -> None:
    path = bucket(settings, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def wait(jobs, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        sync_workloads.delay()  # beat's job in production
        job = jobs.get(name=f"projects/team-a/jobs/{name}").execute()
        if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, f"{name} still {job['state']}"
        time.sleep(0.5)


def results(settings, folder: str) -> tuple[list[str], list[str]]:
    """The lines of every results shard and of every errors_stats shard under `folder`."""
    out = bucket(settings, folder)
    lines = [line for p in sorted(out.glob("prediction.results-*")) for line in p.read_text().splitlines()]
    errors = [
        line for p in sorted(out.glob("prediction.errors_stats-*")) for line in p.read_text().splitlines()
    ]
    return lines, errors


def prediction_input(**overrides) -> dict:
    return {
        "dataFormat": "JSON",
        "inputPaths": ["gs://demo/in/*.jsonl"],
        "outputPath": "gs://demo/out/iris",
        "uri": "gs://demo/models/iris",
        "maxWorkerCount": "2",
        "region": "us-central1",
        **overrides,
    }


def test_two_workers_predict_every_json_row_of_the_wildcard_and_count_the_bad_one(
    local, jobs, settings, iris_model, client, member
):
    model, features = iris_model
    rows = [list(row) for row in features[:40]]
    put(settings, "in/a.jsonl", "".join(json.dumps(row) + "\n" for row in rows[:25]))
    put(settings, "in/b.jsonl", "".join(json.dumps(row) + "\n" for row in rows[25:]) + "{not json\n")
    put(settings, "in/skipped.csv", "1,2,3,4\n")  # the wildcard names .jsonl files only
    body = {"jobId": "iris_batch", "predictionInput": prediction_input()}

    created = jobs.create(parent="projects/team-a", body=body).execute()
    job = wait(jobs, "iris_batch")

    assert created["predictionInput"]["dataFormat"] == "JSON"
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    output = job["predictionOutput"]
    assert output["predictionCount"] == "40"
    assert output["errorCount"] == "1"
    assert output["outputPath"] == "gs://demo/out/iris/"
    lines, errors = results(settings, "out/iris")
    assert sorted(p.name for p in bucket(settings, "out/iris").glob("prediction.results-*")) == [
        "prediction.results-00000-of-00002",
        "prediction.results-00001-of-00002",
    ]
    answers = [json.loads(line) for line in lines]
    assert [a["instance"] for a in answers] == rows  # every row once, in order
    assert [a["prediction"] for a in answers] == model.predict(features[:40]).tolist()
    (reason, count), *_ = [ast.literal_eval(line) for line in errors]
    assert count == 1
    assert "not JSON" in reason
    assert "gs://demo/in/b.jsonl" in reason  # the bad row is named
    # The job's page shows it done, from the Jobs list filtered to its kind
    client.force_login(member(Role.VIEWER))
    listed = client.get("/projects/team-a/training/?kind=predictionInput")
    assert [j.job_id for j in listed.context["jobs"]] == ["iris_batch"]
    page = client.get(Job.objects.get(job_id="iris_batch").get_absolute_url())
    assert page.context["progress"]["percent"] == 100
    assert page.context["progress"]["rows"] == 41


def test_csv_rows_through_csv_output(local, jobs, settings, iris_model):
    model, features = iris_model
    put(settings, "csv/rows.csv", "".join(",".join(str(v) for v in row) + "\n" for row in features[:10]))
    body = {
        "jobId": "iris_csv",
        "predictionInput": prediction_input(
            dataFormat="CSV",
            outputDataFormat="CSV",
            inputPaths=["gs://demo/csv/rows.csv"],
            outputPath="gs://demo/out/csv",
        ),
    }

    jobs.create(parent="projects/team-a", body=body).execute()
    job = wait(jobs, "iris_csv")

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    assert job["predictionOutput"]["predictionCount"] == "10"
    lines, errors = results(settings, "out/csv")
    assert [int(line.split(",")[-1]) for line in lines] == model.predict(features[:10]).tolist()
    assert [float(v) for v in lines[0].split(",")[:4]] == list(features[0])
    assert errors == []


def test_cancel_stops_the_workers(local, jobs, settings, iris_model):
    _, features = iris_model
    # Enough rows that the workers are still at it when the cancel comes
    put(settings, "big/rows.jsonl", (json.dumps(list(features[0])) + "\n") * 400_000)
    body = {
        "jobId": "big",
        "predictionInput": prediction_input(inputPaths=["gs://demo/big/rows.jsonl"], batchSize="1"),
    }
    jobs.create(parent="projects/team-a", body=body).execute()
    deadline = time.monotonic() + 60
    while jobs.get(name="projects/team-a/jobs/big").execute()["state"] != "RUNNING":
        sync_workloads.delay()
        assert time.monotonic() < deadline
        time.sleep(0.3)

    jobs.cancel(name="projects/team-a/jobs/big", body={}).execute()
    job = wait(jobs, "big")

    assert job["state"] == "CANCELLED"
    assert list(bucket(settings, "out/iris").glob("prediction.results-*")) == []  # nothing half-written
