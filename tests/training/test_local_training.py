"""Training jobs end to end on the local backend: the real googleapiclient submits, a real Celery
worker admits and starts, the replicas fetch a trainer package (an sdist built here) from the
project's bucket, install it and run it as AI Platform would."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from mlplatform.compute import backends
from mlplatform.compute.tasks import sync_workloads
from mlplatform.core.models import Role
from mlplatform.storage.services import storage_connection_create
from tests.factories import quota
from training_app.models import Job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("real-worker")]

TASK = """
import argparse, json, os, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir")
parser.add_argument("--exit-code", type=int, default=0)
parser.add_argument("--sleep", type=float, default=0)
args = parser.parse_args()
config = json.loads(os.environ["TF_CONFIG"])
task = config["task"]
print(f"{task['type']}-{task['index']} starting", flush=True)
scheme, _, path = args.job_dir.partition("://")
bucket, _, prefix = path.partition("/")
folder = os.path.join(os.environ["MLPLATFORM_LOCAL_BUCKETS"], bucket, prefix)
os.makedirs(folder, exist_ok=True)
with open(os.path.join(folder, f"tf_config-{task['type']}-{task['index']}.json"), "w") as out:
    seen = {name: os.environ.get(name) for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR")}
    json.dump({"TF_CONFIG": config, **seen}, out)
time.sleep(args.sleep)
if args.exit_code:
    print("loss is nan: giving up", flush=True)
    sys.exit(args.exit_code)
"""


@pytest.fixture(scope="module")
def trainer_sdist(tmp_path_factory) -> Path:
    """trainer-0.1.tar.gz: a real source distribution with a `trainer.task` module."""
    source = tmp_path_factory.mktemp("trainer")
    (source / "trainer").mkdir()
    (source / "trainer" / "__init__.py").write_text("")
    (source / "trainer" / "task.py").write_text(textwrap.dedent(TASK))
    (source / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='trainer', version='0.1', packages=['trainer'])\n"
    )
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(source / "dist")],
        cwd=source,
        check=True,
        capture_output=True,
    )
    return next((source / "dist").glob("trainer-0.1.tar.gz"))


@pytest.fixture
def team(project, settings, tmp_path, trainer_sdist, seeded_catalog):
    settings.DATA_DIR = tmp_path / "data"
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    settings.COMPUTE_BACKEND = "local"
    settings.LOCAL_GPUS = "0"
    backends.get_backend.cache_clear()
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    packages = settings.STORAGE_LOCAL_ROOT / "demo" / "packages"
    packages.mkdir(parents=True)
    (packages / trainer_sdist.name).write_bytes(trainer_sdist.read_bytes())
    quota(project, "cpu", nominal_cpu=16, nominal_memory_gib=64)
    yield project
    backends.get_backend.cache_clear()


@pytest.fixture
def jobs(google_api, member, celery_worker):
    return google_api(member(Role.EDITOR)).projects().jobs()


def custom(**overrides) -> dict:
    return {
        "scaleTier": "CUSTOM",
        "masterType": "n1-standard-4",
        "packageUris": ["gs://demo/packages/trainer-0.1.tar.gz"],
        "pythonModule": "trainer.task",
        "jobDir": "gs://demo/jobs/mnist",
        **overrides,
    }


def wait(jobs, name: str, states: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        sync_workloads.delay()  # beat's job in production
        job = jobs.get(name=f"projects/team-a/jobs/{name}").execute()
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, f"{name} still {job['state']}"
        time.sleep(0.5)


def test_a_master_and_two_workers_run_the_package_and_see_tf_config(team, jobs, settings, client, member):
    body = {"jobId": "mnist", "trainingInput": custom(workerType="n1-standard-4", workerCount="2")}
    jobs.create(parent="projects/team-a", body=body).execute()

    job = wait(jobs, "mnist", {"SUCCEEDED", "FAILED"})

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    written = settings.STORAGE_LOCAL_ROOT / "demo" / "jobs" / "mnist"
    configs = {p.stem: json.loads(p.read_text()) for p in written.glob("tf_config-*.json")}
    assert sorted(configs) == ["tf_config-master-0", "tf_config-worker-0", "tf_config-worker-1"]
    master = configs["tf_config-master-0"]["TF_CONFIG"]
    assert sorted(master["cluster"]) == ["master", "worker"]
    assert len(master["cluster"]["master"]) == 1
    assert len(master["cluster"]["worker"]) == 2
    assert master["task"] == {"type": "master", "index": 0}
    assert master["environment"] == "cloud"
    assert master["job"]["python_module"] == "trainer.task"
    assert configs["tf_config-worker-1"]["TF_CONFIG"]["task"] == {"type": "worker", "index": 1}
    assert configs["tf_config-worker-1"]["TF_CONFIG"]["cluster"] == master["cluster"]
    assert {c["RANK"] for c in configs.values()} == {"0", "1", "2"}
    assert {c["WORLD_SIZE"] for c in configs.values()} == {"3"}
    # The job's page shows the TF_CONFIG each replica really had, addresses included
    client.force_login(member(Role.VIEWER))
    shown = dict(client.get(Job.objects.get(job_id="mnist").get_absolute_url()).context["tf_configs"])
    assert json.loads(shown["worker-1"])["cluster"] == master["cluster"]


def test_a_failing_module_fails_the_job_with_its_exit_code_and_last_line(team, jobs):
    body = {"jobId": "nan", "trainingInput": custom(args=["--exit-code", "3"])}
    jobs.create(parent="projects/team-a", body=body).execute()

    job = wait(jobs, "nan", {"SUCCEEDED", "FAILED"})

    assert job["state"] == "FAILED"
    assert "exit code 3" in job["errorMessage"]
    assert "loss is nan: giving up" in job["errorMessage"]
    assert "master-0" in job["errorMessage"]


def test_cancel_ends_a_running_job_and_its_processes(team, jobs, settings):
    body = {"jobId": "long", "trainingInput": custom(args=["--sleep", "120"])}
    jobs.create(parent="projects/team-a", body=body).execute()
    wait(jobs, "long", {"RUNNING"})
    pids = [int(p.read_text()) for p in Path(settings.DATA_DIR).rglob("pid")]
    assert pids
    assert all(psutil.pid_exists(pid) for pid in pids)

    jobs.cancel(name="projects/team-a/jobs/long", body={}).execute()
    job = wait(jobs, "long", {"CANCELLED"})

    assert job["state"] == "CANCELLED"
    _, alive = psutil.wait_procs([psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)], timeout=15)
    assert not alive


def test_max_running_time_fails_the_job_with_that_reason(team, jobs):
    body = {
        "jobId": "slow",
        "trainingInput": custom(args=["--sleep", "60"], scheduling={"maxRunningTime": "3s"}),
    }
    jobs.create(parent="projects/team-a", body=body).execute()

    job = wait(jobs, "slow", {"SUCCEEDED", "FAILED"})

    assert job["state"] == "FAILED"
    assert "longer than 3 s" in job["errorMessage"]
