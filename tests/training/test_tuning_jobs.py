"""Hyperparameter tuning end to end on the local backend: the real googleapiclient submits a job
with `trainingInput.hyperparameters`, a real Celery worker admits its trials and runs the study's
passes, and each trial is a real process running a trainer package that reports a quadratic of its
arguments with cloudml-hypertune, as AI Platform trainers do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlplatform.compute import backends
from mlplatform.compute.models import Workload
from mlplatform.compute.tasks import sync_workloads
from mlplatform.core.models import Role
from mlplatform.quotas.models import ProjectQuota
from mlplatform.storage.services import storage_connection_create
from tests import packages
from tests.compute.test_worker_killed import database_url
from tests.factories import quota
from training_app.models import Job, Trial
from training_app.tasks import advance_studies

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("real-worker")]
ROOT = Path(__file__).resolve().parents[2]

TASK = """
import argparse, os, time

import hypertune

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir")
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--optimizer", default="sgd")
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--step-seconds", type=float, default=0)
parser.add_argument("--tag", default="score")
parser.add_argument("--bad-trial", default="")
parser.add_argument("--report", default="hypertune", choices=["hypertune", "summary"])
args = parser.parse_args()
trial = os.environ["CLOUD_ML_TRIAL_ID"]
scheme, _, path = args.job_dir.partition("://")
folder = os.path.join(os.environ["MLPLATFORM_LOCAL_BUCKETS"], path)
os.makedirs(folder, exist_ok=True)
with open(os.path.join(folder, "trial.txt"), "w") as out:
    out.write(trial)
score = -((args.x - 2) ** 2) + 5 + (0.5 if args.optimizer == "adam" else 0)
bad = trial == args.bad_trial
tuner = hypertune.HyperTune()
if args.report == "summary":  # as a TensorFlow trainer writes its eval summaries
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(os.path.join(folder, "eval"))
for step in range(1, args.steps + 1):
    value = -100.0 if bad else score
    if args.report == "summary":
        writer.add_scalar(args.tag, value, step)
        writer.flush()
    else:
        tuner.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=args.tag, metric_value=value, global_step=step
        )
    print(f"trial {trial} step {step}: {value}", flush=True)
    time.sleep(args.step_seconds)
if bad:
    time.sleep(300)  # a bad trial that would run on: only early stopping ends it
"""


def objective(hyperparameters: dict) -> float:
    """What the trainer reports for a trial's hyperparameters (as trainingOutput writes them)."""
    x = float(hyperparameters["x"])
    return -((x - 2) ** 2) + 5 + (0.5 if hyperparameters.get("optimizer") == "adam" else 0)


@pytest.fixture(scope="module")
def trainer_wheel(tmp_path_factory) -> Path:
    return packages.wheel(tmp_path_factory.mktemp("trainer"), "trainer", "task", TASK)


@pytest.fixture(scope="module")
def venv_cache(tmp_path_factory) -> Path:
    """One virtualenv for every trial of the module (the runtime keys it by the packages)."""
    return tmp_path_factory.mktemp("venvs")


@pytest.fixture
def team(project, settings, tmp_path, trainer_wheel, venv_cache, seeded_catalog, monkeypatch):
    settings.DATA_DIR = tmp_path / "data"
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    settings.COMPUTE_BACKEND = "local"
    settings.LOCAL_GPUS = "0"
    monkeypatch.setenv("MLPLATFORM_VENV_CACHE", str(venv_cache))
    backends.get_backend.cache_clear()
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    packages_dir = settings.STORAGE_LOCAL_ROOT / "demo" / "packages"
    packages_dir.mkdir(parents=True)
    (packages_dir / trainer_wheel.name).write_bytes(trainer_wheel.read_bytes())
    quota(project, "cpu", nominal_cpu=16, nominal_memory_gib=64)
    yield project
    backends.get_backend.cache_clear()


@pytest.fixture
def jobs(google_api, member, celery_worker):
    return google_api(member(Role.EDITOR)).projects().jobs()


X = {"parameterName": "x", "type": "DOUBLE", "minValue": -3, "maxValue": 7}
OPTIMIZER = {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["sgd", "adam"]}


def tuning_body(job_id: str, *args: str, **hyperparameters) -> dict:
    return {
        "jobId": job_id,
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": ["gs://demo/packages/trainer-0.1-py3-none-any.whl"],
            "pythonModule": "trainer.task",
            "jobDir": f"gs://demo/jobs/{job_id}",
            "args": list(args),
            "hyperparameters": {
                "goal": "MAXIMIZE",
                "hyperparameterMetricTag": "score",
                "params": [X, OPTIMIZER],
                **hyperparameters,
            },
        },
    }


def wait(jobs, name: str, until, timeout: float = 180) -> dict:
    """The job once `until(job)` holds, running the beat's passes (compute's sync and the
    studies') as production's beat does."""
    deadline = time.monotonic() + timeout
    while True:
        sync_workloads.delay()
        advance_studies.delay()
        job = jobs.get(name=f"projects/team-a/jobs/{name}").execute()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"{name} still {job['state']}: {job.get('trainingOutput')}"
        time.sleep(0.5)


def ended(job: dict) -> bool:
    return job["state"] in {"SUCCEEDED", "FAILED", "CANCELLED"}


@pytest.mark.parametrize("algorithm", ["ALGORITHM_UNSPECIFIED", "RANDOM_SEARCH"])
def test_a_study_runs_every_trial_with_its_arguments_and_reports_the_best_first(
    team, jobs, settings, algorithm
):
    body = tuning_body("tune", "--steps=2", algorithm=algorithm, maxTrials=6, maxParallelTrials=2)
    jobs.create(parent="projects/team-a", body=body).execute()

    job = wait(jobs, "tune", ended)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    output = job["trainingOutput"]
    assert output["isHyperparameterTuningJob"] is True
    assert output["hyperparameterMetricTag"] == "score"
    assert output["completedTrialCount"] == "6"
    trials = output["trials"]
    assert sorted(t["trialId"] for t in trials) == ["1", "2", "3", "4", "5", "6"]
    for trial in trials:
        assert trial["state"] == "SUCCEEDED"
        assert -3 <= float(trial["hyperparameters"]["x"]) <= 7
        assert trial["hyperparameters"]["optimizer"] in {"sgd", "adam"}
        # What the trainer computed from the --x and --optimizer it was given
        assert trial["finalMetric"]["objectiveValue"] == pytest.approx(objective(trial["hyperparameters"]))
        assert trial["finalMetric"]["trainingStep"] == "2"
        assert [m["trainingStep"] for m in trial["allMetrics"]] == ["1", "2"]
        assert trial["startTime"] <= trial["endTime"]
        # Each trial wrote under its own --job-dir sub-folder
        written = settings.STORAGE_LOCAL_ROOT / "demo" / "jobs" / "tune" / trial["trialId"] / "trial.txt"
        assert written.read_text() == trial["trialId"]
    values = [t["finalMetric"]["objectiveValue"] for t in trials]
    assert values == sorted(values, reverse=True), "the best trial comes first once the job ended"
    assert len({(t["hyperparameters"]["x"], t["hyperparameters"]["optimizer"]) for t in trials}) == 6


def test_a_trainer_that_writes_tensorflow_summaries_is_tuned_by_them(team, jobs):
    body = tuning_body("summaries", "--steps=2", "--report=summary", maxTrials=2, maxParallelTrials=2)
    jobs.create(parent="projects/team-a", body=body).execute()

    job = wait(jobs, "summaries", ended)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    for trial in job["trainingOutput"]["trials"]:
        # a summary's simple_value is a float32: as close as that holds it
        assert trial["finalMetric"]["objectiveValue"] == pytest.approx(
            objective(trial["hyperparameters"]), rel=1e-6
        )
        assert [m["trainingStep"] for m in trial["allMetrics"]] == ["1", "2"]


def test_grid_search_runs_each_point_of_the_grid_once_and_no_more(team, jobs):
    params = [
        {"parameterName": "x", "type": "DISCRETE", "discreteValues": [0, 1, 2, 3]},
        {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["sgd", "adam"]},
    ]
    body = tuning_body(
        "grid", "--steps=1", algorithm="GRID_SEARCH", maxTrials=20, maxParallelTrials=4, params=params
    )
    jobs.create(parent="projects/team-a", body=body).execute()

    job = wait(jobs, "grid", ended)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    trials = job["trainingOutput"]["trials"]
    points = sorted((float(t["hyperparameters"]["x"]), t["hyperparameters"]["optimizer"]) for t in trials)
    assert points == sorted((x, o) for x in (0.0, 1.0, 2.0, 3.0) for o in ("sgd", "adam"))
    best = trials[0]
    assert (float(best["hyperparameters"]["x"]), best["hyperparameters"]["optimizer"]) == (2.0, "adam")
    assert best["finalMetric"]["objectiveValue"] == pytest.approx(5.5)


def test_early_stopping_stops_a_bad_trial_and_the_study_goes_on(team, jobs, settings):
    body = tuning_body(
        "early",
        "--steps=3",
        "--bad-trial=4",
        maxTrials=5,
        maxParallelTrials=1,
        enableTrialEarlyStopping=True,
    )
    jobs.create(parent="projects/team-a", body=body).execute()

    job = wait(jobs, "early", ended, timeout=240)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    trials = {t["trialId"]: t for t in job["trainingOutput"]["trials"]}
    assert sorted(trials) == ["1", "2", "3", "4", "5"]
    bad = trials["4"]
    assert bad["isTrialStoppedEarly"] is True
    assert bad["state"] == "SUCCEEDED"  # as Google reports a trial stopped early
    assert bad["finalMetric"]["objectiveValue"] == -100.0
    # the median pruner waits for 3 ended trials; trial 5 (a real score) stops only when it is worse
    assert all(not trials[t].get("isTrialStoppedEarly") for t in ("1", "2", "3"))
    median = sorted(trials[t]["finalMetric"]["objectiveValue"] for t in ("1", "2", "3"))[1]
    if trials["5"].get("isTrialStoppedEarly"):
        assert trials["5"]["finalMetric"]["objectiveValue"] < median
    assert job["trainingOutput"]["trials"][-1]["trialId"] == "4", "the stopped trial is the worst"
    # The bad trial's process (sleeping 300 s after its last report) was stopped, not waited for
    trial = Trial.objects.get(job__job_id="early", number=3)
    assert trial.state == Trial.State.STOPPED_EARLY
    assert trial.workload.state == Workload.State.CANCELLED
    assert "worse than the median" in trial.message


def test_a_metric_tag_never_reported_fails_the_trials_and_the_job_with_the_reason(team, jobs):
    body = tuning_body("untagged", "--steps=1", "--tag=loss", maxTrials=4, maxParallelTrials=2)
    jobs.create(parent="projects/team-a", body=body).execute()

    def settled(job):  # the job ends at once; a trial it cut off reads CANCELLED once it stopped
        return ended(job) and all(t["state"] != "CANCELLING" for t in job["trainingOutput"]["trials"])

    job = wait(jobs, "untagged", settled)

    assert job["state"] == "FAILED"
    assert "never reported the metric 'score'" in job["errorMessage"]
    trials = job["trainingOutput"]["trials"]
    # The first three trials all failed (maxFailedTrials unset): the study ends, a fourth is cut off
    states = [t["state"] for t in trials]
    assert states.count("FAILED") >= 3
    assert set(states) <= {"FAILED", "CANCELLED"}
    assert job["trainingOutput"]["completedTrialCount"] == "0"
    failed = Trial.objects.filter(job__job_id="untagged", state=Trial.State.FAILED).first()
    assert "hyperparameterMetricTag" in failed.message


def test_the_quota_decides_how_many_trials_run_and_cancelling_the_job_cancels_them(team, jobs, project):
    # n1-standard-4 masters: 4 CPUs each, and the project's quota holds 8 of them
    ProjectQuota.objects.filter(project=project, flavor__name="cpu").update(nominal_cpu=8)
    body = tuning_body("quota", "--steps=1", "--step-seconds=120", maxTrials=6, maxParallelTrials=4)
    body["trainingInput"].update(scaleTier="CUSTOM", masterType="n1-standard-4")
    jobs.create(parent="projects/team-a", body=body).execute()

    def two_running(job):
        states = [t["state"] for t in job.get("trainingOutput", {}).get("trials", [])]
        return states.count("RUNNING") == 2 and job["state"] == "RUNNING"

    job = wait(jobs, "quota", two_running)

    states = sorted(t["state"] for t in job["trainingOutput"]["trials"])
    assert states == ["QUEUED", "QUEUED", "RUNNING", "RUNNING"], "4 in flight at most, 2 by the quota"
    queued = Workload.objects.filter(trial__job__job_id="quota", state=Workload.State.QUEUED)
    assert all("team-a uses 8 of 8 vCPUs" in w.reason for w in queued), [w.reason for w in queued]

    jobs.cancel(name="projects/team-a/jobs/quota", body={}).execute()
    job = wait(jobs, "quota", ended)

    assert job["state"] == "CANCELLED"
    assert {t["state"] for t in job["trainingOutput"]["trials"]} == {"CANCELLED"}
    assert len(job["trainingOutput"]["trials"]) == 4, "no trial starts after the job was cancelled"
    members = Workload.objects.filter(trial__job__job_id="quota")
    assert set(members.values_list("state", flat=True)) == {Workload.State.CANCELLED}


def test_a_resumed_grid_study_goes_on_where_the_earlier_job_stopped(team, jobs):
    params = [
        {"parameterName": "x", "type": "DISCRETE", "discreteValues": [0, 1, 2]},
        {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["sgd", "adam"]},
    ]
    common = {"algorithm": "GRID_SEARCH", "maxParallelTrials": 3, "params": params}
    jobs.create(
        parent="projects/team-a", body=tuning_body("first", "--steps=1", maxTrials=3, **common)
    ).execute()
    first = wait(jobs, "first", ended)
    body = tuning_body("again", "--steps=1", maxTrials=3, resumePreviousJobId="first", **common)
    jobs.create(parent="projects/team-a", body=body).execute()
    again = wait(jobs, "again", ended)

    def points(job):
        return {
            (t["hyperparameters"]["x"], t["hyperparameters"]["optimizer"])
            for t in job["trainingOutput"]["trials"]
        }

    assert first["state"] == again["state"] == "SUCCEEDED"
    assert len(points(first)) == len(points(again)) == 3
    assert not points(first) & points(again), "the resumed study repeats no point"
    assert len(points(first) | points(again)) == 6


def test_a_worker_killed_in_the_middle_of_a_pass_loses_and_repeats_no_trial(team, jobs, project):
    jobs.create(
        parent="projects/team-a", body=tuning_body("killed", "--steps=1", maxTrials=4, maxParallelTrials=2)
    ).execute()
    job = Job.objects.get(job_id="killed")
    # Its first two trials run to their end; no study pass runs yet
    deadline = time.monotonic() + 120
    while not all(t.workload.is_finished for t in Trial.objects.filter(job=job).select_related("workload")):
        sync_workloads.delay()
        assert time.monotonic() < deadline
        time.sleep(0.5)

    # A pass in a process of its own, killed once it has queued trial 3 inside its transaction
    script = (
        "import time\n"
        "from training_app import studies\n"
        "from training_app.models import Job\n"
        "submit = studies.workload_submit\n"
        "def slow(**kwargs):\n"
        "    workload = submit(**kwargs)\n"
        "    print('submitted', flush=True)\n"
        "    time.sleep(300)\n"
        "studies.workload_submit = slow\n"
        f"studies.study_advance(Job.objects.get(pk={job.pk}))\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "mlplatform.settings"}
    pass_ = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "submitted\n" in iter(pass_.stdout.readline, ""), "the pass never queued its trial"
        assert Trial.objects.filter(job=job).count() == 2, "not committed yet"
    finally:
        pass_.send_signal(signal.SIGKILL)
        pass_.wait(timeout=30)

    assert Trial.objects.filter(job=job).count() == 2
    assert Workload.objects.filter(group=job.workload).count() == 2, "the killed pass left no workload"

    final = wait(jobs, "killed", ended)

    assert final["state"] == "SUCCEEDED", final.get("errorMessage")
    assert sorted(t["trialId"] for t in final["trainingOutput"]["trials"]) == ["1", "2", "3", "4"]
    assert Workload.objects.filter(group=job.workload).count() == 4
    assert sorted(Trial.objects.filter(job=job).values_list("number", flat=True)) == [0, 1, 2, 3]
