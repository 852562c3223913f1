"""The replica runner (training_app/runtime/trainer.py) as the local backend starts it: the command
line and env of a job's spec, a real trainer package in a bucket, one process per replica."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlplatform.compute.envexpand import expand, expand_all
from mlplatform.storage.services import storage_connection_create
from tests import packages
from tests.stores import S3_KEY_ID, S3_SECRET, aws_client, gcs_client
from training_app.runtime import trainer
from training_app.services import training_plan

RUNNER = Path(__file__).resolve().parents[2] / "training_app" / "runtime" / "trainer.py"
WHEEL = "trainer-0.1-py3-none-any.whl"
TASK = """
import argparse, json, os, sys

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir", required=True)
parser.add_argument("--exit-code", type=int, default=0)
args, rest = parser.parse_known_args()
if args.exit_code:
    sys.exit(args.exit_code)
config = json.loads(os.environ["TF_CONFIG"])
bucket, _, prefix = args.job_dir.partition("://")[2].partition("/")
folder = os.path.join(os.environ["MLPLATFORM_LOCAL_BUCKETS"], bucket, prefix)
os.makedirs(folder, exist_ok=True)
seen = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "CLOUD_ML_JOB", "CLOUD_ML_JOB_ID")
report = {"TF_CONFIG": config, "argv": rest, "prefix": sys.prefix, **{n: os.environ.get(n) for n in seen}}
with open(os.path.join(folder, "{type}-{index}.json".format(**config["task"])), "w") as out:
    json.dump(report, out)
"""


def wheel(folder: Path) -> Path:
    """trainer-0.1-py3-none-any.whl with `trainer.task`."""
    return packages.wheel(folder, "trainer", "task", TASK)


def sdist(folder: Path) -> Path:
    """trainer-0.1.tar.gz with `trainer.task`."""
    return packages.sdist(folder, "trainer", "task", TASK)


@pytest.fixture
def buckets(project, settings, tmp_path) -> Path:
    """team-a's local bucket `demo` with the trainer wheel in packages/."""
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    settings.DATA_DIR = tmp_path / "data"
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    wheel(settings.STORAGE_LOCAL_ROOT / "demo" / "packages")
    return settings.STORAGE_LOCAL_ROOT


def start_replicas(
    project,
    buckets: Path,
    tmp_path: Path,
    python: str = sys.executable,
    without=(),
    removed_after_submit=(),
    **training_input,
):
    """Every replica of the job's spec as a process, with the env (less `without`) and working
    folder the local backend gives it: the cluster, and (role-index, Popen) pairs. The bucket
    files `removed_after_submit` (paths) go between the submit's checks and the start."""
    training_input.setdefault("packageUris", [f"gs://demo/packages/{WHEEL}"])
    training_input.setdefault("pythonModule", "trainer.task")
    training_input.setdefault("jobDir", "gs://demo/jobs/mnist")
    plan = training_plan(project=project, job_id="mnist_1", input=training_input, labels={})
    for path in removed_after_submit:
        path.unlink()
    ports = iter(range(23450, 23450 + plan.spec.replicas))
    cluster = {g.role: [f"127.0.0.1:{next(ports)}" for _ in range(g.count)] for g in plan.spec.groups}
    started = []
    for group in plan.spec.groups:
        for index, address in enumerate(cluster[group.role]):
            env = {
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "MLPLATFORM_WORKLOAD": "0" * 32,
                "MLPLATFORM_REPLICA_ROLE": group.role,
                "MLPLATFORM_REPLICA_INDEX": str(index),
                "MLPLATFORM_CLUSTER": json.dumps(cluster),
                "MLPLATFORM_PORT": address.rsplit(":", 1)[1],
                "MLPLATFORM_LOCAL_BUCKETS": str(buckets),
            }
            env |= expand_all({**group.env, **group.local.env}, env)
            env = {name: value for name, value in env.items() if name not in without}
            argv = [expand(arg, env) for arg in (python, *group.local.command[1:], *group.local.args)]
            cwd = tmp_path / "runs" / f"{group.role}-{index}"
            cwd.mkdir(parents=True)
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            started.append((f"{group.role}-{index}", process))
    return cluster, started


def finish(started) -> dict[str, tuple[int, str]]:
    """role-index: (exit code, stderr)."""
    results = {}
    for name, process in started:
        _, stderr = process.communicate(timeout=120)
        results[name] = (process.returncode, stderr.decode())
    return results


def reports(buckets: Path) -> dict[str, dict]:
    return {
        path.stem: json.loads(path.read_text())
        for path in (buckets / "demo" / "jobs" / "mnist").glob("*.json")
    }


# --- tests ---------------------------------------------------------------------------------


def test_each_replica_gets_ai_platforms_tf_config_and_pytorch_variables(project, buckets, tmp_path, settings):
    training_input = {
        "scaleTier": "CUSTOM",
        "masterType": "n1-standard-4",
        "workerType": "n1-standard-4",
        "workerCount": "2",
        "evaluatorType": "n1-standard-4",
        "evaluatorCount": 1,
        "args": ["--epochs", "1"],
    }
    cluster, started = start_replicas(project, buckets, tmp_path, **training_input)

    results = finish(started)

    assert {name: code for name, (code, _) in results.items()} == dict.fromkeys(
        ["master-0", "worker-0", "worker-1", "evaluator-0"], 0
    ), results
    seen = reports(buckets)
    training_cluster = {"master": cluster["master"], "worker": cluster["worker"]}  # never evaluators
    job = {
        "scale_tier": "CUSTOM",
        "master_type": "n1-standard-4",
        "worker_type": "n1-standard-4",
        "worker_count": "2",
        "evaluator_type": "n1-standard-4",
        "evaluator_count": "1",
        "args": ["--epochs", "1"],
        "package_uris": [f"gs://demo/packages/{WHEEL}"],
        "python_module": "trainer.task",
        "job_dir": "gs://demo/jobs/mnist",
    }
    for name, role, index in [
        ("master-0", "master", 0),
        ("worker-1", "worker", 1),
        ("evaluator-0", "evaluator", 0),
    ]:
        assert seen[name]["TF_CONFIG"] == {
            "cluster": training_cluster,
            "task": {"type": role, "index": index},
            "job": job,
            "environment": "cloud",
        }
    assert {name: report["RANK"] for name, report in seen.items()} == {
        "master-0": "0",
        "worker-0": "1",
        "worker-1": "2",
        "evaluator-0": None,
    }
    master_host, master_port = cluster["master"][0].rsplit(":", 1)
    assert {(r["MASTER_ADDR"], r["MASTER_PORT"], r["WORLD_SIZE"]) for r in seen.values()} == {
        (master_host, master_port, "3")
    }
    assert all(json.loads(r["CLOUD_ML_JOB"]) == job for r in seen.values())
    assert {r["CLOUD_ML_JOB_ID"] for r in seen.values()} == {"mnist_1"}
    assert all(r["argv"] == ["--epochs", "1"] for r in seen.values())
    # One virtualenv, built once by whichever replica came first, serves all four.
    (prefix,) = {r["prefix"] for r in seen.values()}
    assert Path(prefix).parent == Path(settings.DATA_DIR) / "local" / "venvs"


def test_with_use_chief_the_chief_leads_and_parameter_servers_have_no_rank():
    cluster = {
        "chief": ["c:2222"],
        "worker": ["w0:2222"],
        "ps": ["p0:2222", "p1:2222"],
        "evaluator": ["e:2222"],
    }
    job = {"job_id": "j", "project": "team-a", "training_input": {"parameterServerCount": 2, "args": ["-v"]}}
    platform = {
        "MLPLATFORM_CLUSTER": json.dumps(cluster),
        "MLPLATFORM_REPLICA_ROLE": "ps",
        "MLPLATFORM_REPLICA_INDEX": "1",
        "MLPLATFORM_TRAINING_JOB": json.dumps(job),
        "MLPLATFORM_USE_CHIEF": "true",
    }

    exported = trainer.distributed_env(platform)

    assert json.loads(exported["TF_CONFIG"]) == {
        "cluster": {"chief": ["c:2222"], "worker": ["w0:2222"], "ps": ["p0:2222", "p1:2222"]},
        "task": {"type": "ps", "index": 1},
        "job": {"parameter_server_count": "2", "args": ["-v"]},
        "environment": "cloud",
    }
    assert (exported["MASTER_ADDR"], exported["MASTER_PORT"], exported["WORLD_SIZE"]) == ("c", "2222", "2")
    assert "RANK" not in exported
    assert trainer.distributed_env(platform | {"MLPLATFORM_REPLICA_ROLE": "chief"})["RANK"] == "0"


def test_the_runner_exits_with_the_trainers_exit_code(project, buckets, tmp_path):
    _, started = start_replicas(project, buckets, tmp_path, args=["--exit-code", "3"])

    assert finish(started)["master-0"] == (3, "")


def test_without_a_cache_the_virtualenv_goes_under_the_working_folder(project, buckets, tmp_path):
    _, started = start_replicas(project, buckets, tmp_path, without={"MLPLATFORM_VENV_CACHE"})

    assert finish(started)["master-0"][0] == 0
    assert Path(reports(buckets)["master-0"]["prefix"]).is_relative_to(tmp_path / "runs" / "master-0")


def test_a_package_removed_after_the_submit_fails_with_one_line_naming_its_uri(project, buckets, tmp_path):
    packages.uploaded(buckets / "demo", "packages/gone-1.0.tar.gz")
    _, started = start_replicas(
        project,
        buckets,
        tmp_path,
        packageUris=["gs://demo/packages/gone-1.0.tar.gz"],
        removed_after_submit=[buckets / "demo" / "packages" / "gone-1.0.tar.gz"],
    )

    code, stderr = finish(started)["master-0"]

    assert code == 66
    # the URI the user gave, not where the platform keeps the bucket
    assert stderr.splitlines() == [
        "mlplatform trainer: package gs://demo/packages/gone-1.0.tar.gz was not found"
    ]


def test_the_runner_refuses_to_run_outside_a_workload(tmp_path):
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--package-uris", "gs://demo/t.whl", "--module", "trainer.task"],
        env={"PATH": os.environ["PATH"]},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    assert done.returncode == 2
    assert done.stderr.strip().endswith("not set: run me as a replica of a training workload")


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_packages_come_from_s3_and_gcs_stores(scheme, tmp_path, request):
    """No local bucket of that name: the runner downloads through boto3 or google-cloud-storage,
    with the variables the platform's storage wiring sets."""
    package = wheel(tmp_path)
    if scheme == "s3":
        endpoint, bucket = (
            request.getfixturevalue("s3_endpoint"),
            request.getfixturevalue("s3_bucket_factory"),
        )
        aws_client(endpoint).upload_file(str(package), bucket("trainer-packages"), f"p/{WHEEL}")
        store_env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    else:
        endpoint, bucket = (
            request.getfixturevalue("gcs_endpoint"),
            request.getfixturevalue("gcs_bucket_factory"),
        )
        gcs_client(endpoint).bucket(bucket("trainer-packages")).blob(f"p/{WHEEL}").upload_from_filename(
            package
        )
        store_env = {"STORAGE_EMULATOR_HOST": endpoint}
    (tmp_path / "buckets" / "demo").mkdir(parents=True)  # where the job writes; packages are elsewhere
    env = {
        "PATH": os.environ["PATH"],
        "MLPLATFORM_CLUSTER": json.dumps({"master": ["127.0.0.1:23460"]}),
        "MLPLATFORM_REPLICA_ROLE": "master",
        "MLPLATFORM_REPLICA_INDEX": "0",
        "MLPLATFORM_LOCAL_BUCKETS": str(tmp_path / "buckets"),
        "MLPLATFORM_VENV_CACHE": str(tmp_path / "venvs"),
        **store_env,
    }
    uri = f"{scheme}://trainer-packages/p/{WHEEL}"
    argv = [sys.executable, str(RUNNER), "--package-uris", uri, "--module", "trainer.task"]

    done = subprocess.run(
        [*argv, "--", "--job-dir", "gs://demo/jobs/mnist"], env=env, cwd=tmp_path, capture_output=True
    )

    assert done.returncode == 0, done.stderr.decode()
    assert reports(tmp_path / "buckets")["master-0"]["TF_CONFIG"]["task"] == {"type": "master", "index": 0}


def test_an_sdist_is_built_and_installed_offline(project, buckets, tmp_path):
    sdist(buckets / "demo" / "packages")  # what `gcloud ai-platform jobs submit training` uploads

    _, started = start_replicas(
        project, buckets, tmp_path, packageUris=["gs://demo/packages/trainer-0.1.tar.gz"]
    )

    assert finish(started)["master-0"][0] == 0
    assert reports(buckets)["master-0"]["TF_CONFIG"]["job"]["package_uris"] == [
        "gs://demo/packages/trainer-0.1.tar.gz"
    ]


def test_a_trials_hypertune_metrics_are_read_in_the_order_reported(tmp_path, monkeypatch):
    import hypertune

    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(tmp_path / "output.metrics"))
    monkeypatch.setenv("CLOUD_ML_TRIAL_ID", "2")
    tuner = hypertune.HyperTune()  # the real package's file, as a trainer writes it
    tuner.report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="score", metric_value=-4.5, global_step=10
    )
    tuner.report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="loss", metric_value=0.3, global_step=10
    )
    tuner.report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="score", metric_value="NaN", global_step=20
    )
    tuner.report_hyperparameter_tuning_metric(hyperparameter_metric_tag="score", metric_value=-0.25)  # step 0
    text = (tmp_path / "output.metrics").read_text() + "not json\n"

    assert trainer.hypertune_metrics(text, "score") == [
        {"trainingStep": "10", "objectiveValue": -4.5},
        {"trainingStep": "0", "objectiveValue": -0.25},
    ]
    assert trainer.hypertune_metrics(text, "accuracy") == []
    assert "'accuracy'" in trainer.NEVER_REPORTED.format(tag="accuracy")


def write_summaries(folder: Path) -> None:
    """TensorFlow summary events as trainers write them: tensorboardX's SummaryWriter (simple
    values, as TF 1 and Keras write) and an Event with a tensor value (TF 2's tf.summary.scalar)."""
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.summary_pb2 import Summary
    from tensorboardX.proto.tensor_pb2 import TensorProto

    writer = SummaryWriter(str(folder))
    writer.add_scalar("accuracy", 0.5, 1)
    writer.add_scalar("loss", 0.9, 1)  # another tag
    writer.add_scalar("accuracy", 0.75, 2)
    tensor = TensorProto(dtype=1, float_val=[0.875])  # DT_FLOAT
    event = Event(
        wall_time=2.5, step=3, summary=Summary(value=[Summary.Value(tag="accuracy", tensor=tensor)])
    )
    writer._get_file_writer().add_event(event)
    writer.close()


@pytest.mark.parametrize("store", ["local", "s3", "gs"])
def test_a_trials_tensorflow_summaries_of_its_metric_are_read_as_hypertune_lines(
    store, tmp_path, request, monkeypatch
):
    write_summaries(tmp_path / "written" / "eval")
    files = list((tmp_path / "written").rglob("events.out.tfevents.*"))
    if store == "local":
        buckets = tmp_path / "buckets"
        (buckets / "demo" / "jobs" / "tune").mkdir(parents=True)
        shutil.copytree(tmp_path / "written", buckets / "demo" / "jobs" / "tune" / "1")
        monkeypatch.setenv("MLPLATFORM_LOCAL_BUCKETS", str(buckets))
        job_dir = "gs://demo/jobs/tune/1"
    elif store == "s3":
        endpoint, bucket = (
            request.getfixturevalue("s3_endpoint"),
            request.getfixturevalue("s3_bucket_factory")("runs"),
        )
        for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": S3_KEY_ID}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        aws_client(endpoint).upload_file(str(files[0]), bucket, f"tune/1/eval/{files[0].name}")
        aws_client(endpoint).put_object(Bucket=bucket, Key="tune/1/model.ckpt", Body=b"not read")
        job_dir = f"s3://{bucket}/tune/1"
    else:
        endpoint, bucket = (
            request.getfixturevalue("gcs_endpoint"),
            request.getfixturevalue("gcs_bucket_factory")("runs"),
        )
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        gcs_client(endpoint).bucket(bucket).blob(f"tune/1/eval/{files[0].name}").upload_from_filename(
            files[0]
        )
        job_dir = f"gs://{bucket}/tune/1"

    lines = trainer.SummaryScalars(job_dir, "accuracy", tmp_path / "downloads").lines()

    assert trainer.hypertune_metrics("\n".join(lines), "accuracy") == [
        {"trainingStep": "1", "objectiveValue": 0.5},
        {"trainingStep": "2", "objectiveValue": 0.75},
        {"trainingStep": "3", "objectiveValue": 0.875},
    ]
    assert trainer.SummaryScalars(job_dir, "loss", tmp_path / "downloads").lines() != []
    assert trainer.SummaryScalars(job_dir, "f1", tmp_path / "downloads").lines() == []
