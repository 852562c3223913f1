"""The batch worker (prediction_app.serving.batch) as the backends run it: a process with the plan in
its environment and the job's files in a local bucket. Its splits cover every line once, it reads
TFRecords through the tfrecord library, a worker killed mid-way and run again commits each shard
once and whole, and a model that cannot load fails it with the predictor's exit code 3."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import joblib
import pytest
from tfrecord.writer import TFRecordWriter

from prediction_app.batch_specs import InputFile, split_plan
from prediction_app.serving import objects
from prediction_app.serving.batch import PROGRESS_MARK, lines_in
from tests.prediction.servers import ROOT
from tests.stores import S3_KEY_ID, S3_SECRET, aws_client, gcs_client, unique_bucket


@pytest.fixture
def buckets(tmp_path, iris_model, monkeypatch) -> Path:
    """A local bucket `demo` with models/iris/model.joblib; workers find it through the wiring's variable."""
    root = tmp_path / "buckets"
    (root / "demo" / "models" / "iris").mkdir(parents=True)
    joblib.dump(iris_model[0], root / "demo" / "models" / "iris" / "model.joblib")
    monkeypatch.setenv("MLPLATFORM_LOCAL_BUCKETS", str(root))
    return root


def plan(buckets: Path, keys: list[str], *, workers: int, data_format: str = "JSON", **overrides) -> dict:
    files = [InputFile(f"gs://demo/{key}", (buckets / "demo" / key).stat().st_size) for key in keys]
    runs = split_plan(files, workers=workers, data_format=data_format)
    return {
        "job_id": "j",
        "data_format": data_format,
        "output_format": "JSON",
        "output_path": "gs://demo/out/",
        "batch_size": 8,
        "signature_name": "",
        "model": {
            "uri": "gs://demo/models/iris",
            "framework": "",
            "prediction_class": "",
            "package_uris": [],
        },
        "total_bytes": sum(f.size for f in files),
        "splits": [[[s.uri, s.start, s.end] for s in run] for run in runs],
        **overrides,
    }


def start(buckets: Path, job: dict, index: int, **store: str) -> subprocess.Popen:
    env = {
        **store,
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "MLPLATFORM_LOCAL_BUCKETS": str(buckets),
        "MLPLATFORM_BATCH_JOB": json.dumps(job),
        "MLPLATFORM_REPLICA_INDEX": str(index),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "prediction_app.serving.batch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(buckets: Path, job: dict, index: int, **store: str) -> subprocess.CompletedProcess:
    worker = start(buckets, job, index, **store)
    out, err = worker.communicate(timeout=120)
    return subprocess.CompletedProcess(worker.args, worker.returncode, out, err)


def shard_lines(buckets: Path) -> list[dict]:
    out = buckets / "demo" / "out"
    return [
        json.loads(line)
        for p in sorted(out.glob("prediction.results-*"))
        for line in p.read_text().splitlines()
    ]


@pytest.mark.parametrize("workers", [1, 2, 3, 7, 50])
def test_the_splits_of_a_file_hold_each_of_its_lines_once(buckets, workers):
    rng = random.Random(workers)
    lines = [b"x" * rng.randint(0, 30) for _ in range(60)]
    data = b"\n".join(lines)  # no newline at the end: the last line counts too
    (buckets / "demo" / "in.txt").write_bytes(data)
    runs = split_plan([InputFile("gs://demo/in.txt", len(data))], workers=workers, data_format="TEXT")

    read = [
        line
        for run in runs
        for split in run
        for _, line in lines_in(objects.read_from(split.uri, max(split.start - 1, 0)), split.start, split.end)
    ]

    assert read == lines
    assert len(runs) == min(workers, len(data))


def test_a_worker_killed_mid_way_and_run_again_commits_its_shard_once_and_whole(buckets, iris_model):
    model, features = iris_model
    rows = [json.dumps(list(features[i % 150])) for i in range(200_000)]
    (buckets / "demo" / "in.jsonl").write_text("\n".join(rows) + "\n")
    job = plan(buckets, ["in.jsonl"], workers=1, batch_size=1)
    worker = start(buckets, job, 0)
    deadline = time.monotonic() + 60
    while PROGRESS_MARK not in worker.stdout.readline():  # it is predicting
        assert time.monotonic() < deadline

    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert list((buckets / "demo" / "out").glob("prediction.*")) == []  # nothing half-written
    job["batch_size"] = 512
    again = run(buckets, job, 0)

    assert again.returncode == 0, again.stderr
    answers = shard_lines(buckets)
    assert len(answers) == 200_000
    assert [a["prediction"] for a in answers[:150]] == model.predict(features).tolist()
    shard = buckets / "demo" / "out" / "prediction.results-00000-of-00001"
    written = shard.stat().st_ino
    third = run(buckets, job, 0)
    assert third.returncode == 0
    assert "already committed" in third.stdout
    assert shard.stat().st_ino == written  # not written twice


def _records(path: Path, records: list[bytes], opener=open) -> None:
    """TFRecord framing (length, masked CRCs) with the tfrecord library's checksum."""
    with opener(path, "wb") as out:
        for record in records:
            length = struct.pack("<Q", len(record))
            out.write(length + TFRecordWriter.masked_crc(length) + record + TFRecordWriter.masked_crc(record))


@pytest.mark.parametrize(("data_format", "opener"), [("TF_RECORD", open), ("TF_RECORD_GZIP", gzip.open)])
def test_tfrecord_files_are_read_whole_by_one_worker_each(buckets, iris_model, data_format, opener):
    model, features = iris_model
    for name, part in (("a", features[:20]), ("b", features[20:30])):
        _records(
            buckets / "demo" / f"{name}.tfrecord", [json.dumps(list(row)).encode() for row in part], opener
        )
    job = plan(buckets, ["a.tfrecord", "b.tfrecord"], workers=2, data_format=data_format)
    assert [len(run) for run in job["splits"]] == [1, 1]

    done = [run(buckets, job, index) for index in (0, 1)]

    assert [d.returncode for d in done] == [0, 0], done[0].stderr
    assert [a["prediction"] for a in shard_lines(buckets)] == model.predict(features[:30]).tolist()


def test_rows_the_model_cannot_take_are_counted_and_named(buckets, iris_model):
    _, features = iris_model
    (buckets / "demo" / "in.jsonl").write_text(f'{json.dumps(list(features[0]))}\n[1, 2]\n"text"\n')
    job = plan(buckets, ["in.jsonl"], workers=1)

    done = run(buckets, job, 0)

    assert done.returncode == 0, done.stderr
    assert len(shard_lines(buckets)) == 1
    stats = (buckets / "demo" / "out" / "prediction.errors_stats-00000-of-00001").read_text()
    assert "the model cannot take it" in stats
    assert "gs://demo/in.jsonl byte" in stats  # where the bad rows are
    assert "predictions=1 errors=2" in done.stdout


def test_a_model_that_cannot_load_fails_the_worker_with_exit_code_3(buckets):
    (buckets / "demo" / "models" / "iris" / "model.joblib").write_bytes(b"not a pickle")
    (buckets / "demo" / "in.jsonl").write_text("[1, 2, 3, 4]\n")

    done = run(buckets, plan(buckets, ["in.jsonl"], workers=1), 0)

    assert done.returncode == 3
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("Bad model detected with error: cannot load model.joblib")
    )
    assert not (buckets / "demo" / "out").exists()


def _store_job(scheme: str, bucket: str, size: int) -> dict:
    runs = split_plan([InputFile(f"{scheme}://{bucket}/in/rows.jsonl", size)], workers=2, data_format="JSON")
    return {
        "job_id": "j",
        "data_format": "JSON",
        "output_format": "JSON",
        "output_path": f"{scheme}://{bucket}/out/",
        "batch_size": 16,
        "signature_name": "",
        "model": {"uri": f"{scheme}://{bucket}/models/iris", "framework": "SCIKIT_LEARN"},
        "total_bytes": size,
        "splits": [[[s.uri, s.start, s.end] for s in run] for run in runs],
    }


def test_two_workers_read_ranges_of_an_s3_object_and_upload_their_shards(
    tmp_path, iris_model, s3_endpoint, s3_bucket_factory
):
    model, features = iris_model
    bucket, client = s3_bucket_factory(unique_bucket()), aws_client(s3_endpoint)
    client.put_object(Bucket=bucket, Key="models/iris/model.joblib", Body=_joblib(tmp_path, model))
    data = "".join(json.dumps(list(row)) + "\n" for row in features).encode()
    client.put_object(Bucket=bucket, Key="in/rows.jsonl", Body=data)
    store = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
    }
    job = _store_job("s3", bucket, len(data))

    done = [run(tmp_path, job, index, **store) for index in (0, 1)]

    assert [d.returncode for d in done] == [0, 0], done[0].stderr
    shards = [f"out/prediction.results-0000{i}-of-00002" for i in (0, 1)]
    lines = [
        json.loads(line)
        for key in shards
        for line in client.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    ]
    assert [a["prediction"] for a in lines] == model.predict(features).tolist()
    assert "already committed" in run(tmp_path, job, 1, **store).stdout


def test_two_workers_read_ranges_of_a_gcs_object_and_upload_their_shards(
    tmp_path, iris_model, gcs_endpoint, gcs_bucket_factory
):
    model, features = iris_model
    bucket = gcs_client(gcs_endpoint).bucket(gcs_bucket_factory(unique_bucket()))
    bucket.blob("models/iris/model.joblib").upload_from_string(_joblib(tmp_path, model))
    data = "".join(json.dumps(list(row)) + "\n" for row in features).encode()
    bucket.blob("in/rows.jsonl").upload_from_string(data)
    job = _store_job("gs", bucket.name, len(data))

    done = [run(tmp_path, job, index, STORAGE_EMULATOR_HOST=gcs_endpoint) for index in (0, 1)]

    assert [d.returncode for d in done] == [0, 0], done[0].stderr
    lines = [
        json.loads(line)
        for i in (0, 1)
        for line in bucket.blob(f"out/prediction.results-0000{i}-of-00002").download_as_bytes().splitlines()
    ]
    assert [a["prediction"] for a in lines] == model.predict(features).tolist()


def _joblib(tmp_path: Path, model) -> bytes:
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    return path.read_bytes()
