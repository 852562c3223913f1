"""A tuning job on the Kubernetes backend, against the Kubernetes API test server: each trial is a
Job of its own with its values as arguments, its own job dir and trial id, and the study reads
what the trial's master logged through the API server, as it does on the local backend."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings

from mlplatform.compute.services import admission_pass, workload_start, workloads_sync
from mlplatform.storage.services import storage_connection_create
from tests.compute.test_backend_io_outside_locks import row_is_locked
from tests.factories import quota
from tests.packages import uploaded
from tests.training.test_kubernetes_jobs import cluster, objects_of
from training_app import studies
from training_app.models import Trial
from training_app.runtime.trainer import METRIC_LINE
from training_app.services import job_create
from training_app.studies import study_advance

__all__ = ["cluster"]
pytestmark = pytest.mark.django_db(transaction=True)


def started(kube, trial: Trial) -> tuple[dict, dict]:
    """The trial's Job, started by the test's kubelet: (its container, its pod)."""
    workload_start(workload_id=trial.workload_id)
    (job,) = [o for o in objects_of(kube, trial.workload.id.hex) if o["kind"] == "Job"]
    (pod,) = kube.kubelet.start_job(job["metadata"]["namespace"], job["metadata"]["name"])
    return job["spec"]["template"]["spec"]["containers"][0], pod


def test_each_trial_is_a_job_with_its_arguments_and_its_reports_are_read_from_its_log(
    cluster, project, monkeypatch, seeded_catalog
):
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    uploaded(django_settings.STORAGE_LOCAL_ROOT / "demo")  # the trainer package its trials name
    quota(project, "cpu", nominal_cpu=64, nominal_memory_gib=256)
    body = {
        "jobId": "tune",
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": ["gs://demo/packages/trainer-0.1.tar.gz"],
            "pythonModule": "trainer.task",
            "jobDir": "gs://demo/jobs/tune",
            "args": ["--epochs=3"],
            "hyperparameters": {
                "goal": "MINIMIZE",
                "hyperparameterMetricTag": "loss",
                "maxTrials": 3,
                "maxParallelTrials": 2,
                "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}],
            },
        },
    }
    job = job_create(project=project, body=body)
    admission_pass()
    first, second = job.trials.order_by("number")

    for trial in (first, second):
        container, pod = started(cluster, trial)
        args = container["args"]
        (x_arg,) = [a for a in args if a.startswith("--x=")]
        assert float(x_arg.partition("=")[2]) == pytest.approx(trial.params["x"])
        assert args.index("--epochs=3") < args.index(x_arg), "the trial's values come after the job's args"
        x = trial.params["x"]
        assert f"gs://demo/jobs/tune/{trial.trial_id}" in args
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MLPLATFORM_TRIAL_ID"] == trial.trial_id
        lines = [
            METRIC_LINE
            + json.dumps({"global_step": str(step), "loss": str(x / step), "trial": trial.trial_id})
            for step in (1, 2, 3)
        ]
        cluster.set_logs(
            pod["metadata"]["namespace"], pod["metadata"]["name"], "\n".join(["epoch 1", *lines])
        )
    workloads_sync()
    read_logs, locked = studies.workload_logs, []

    def spied(**kwargs):  # the pod log GETs: never while the job's row is locked
        locked.append(row_is_locked(job.workload_id))
        return read_logs(**kwargs)

    monkeypatch.setattr(studies, "workload_logs", spied)

    study_advance(job)  # running: their reports so far, nothing ended yet

    assert locked == [False, False]

    first.refresh_from_db()
    assert first.state == Trial.State.ACTIVE
    assert first.intermediate == {
        "1": first.params["x"],
        "2": first.params["x"] / 2,
        "3": first.params["x"] / 3,
    }
    assert job.trials.count() == 2

    for trial in (first, second):
        (made,) = [o for o in objects_of(cluster, trial.workload.id.hex) if o["kind"] == "Job"]
        cluster.kubelet.finish_job(made["metadata"]["namespace"], made["metadata"]["name"])
    workloads_sync()
    study_advance(job)

    first.refresh_from_db()
    assert first.state == Trial.State.SUCCEEDED
    assert first.objective == pytest.approx(first.params["x"] / 3)
    assert job.trials.count() == 3, "a third trial is queued as the first two ended"
    job.workload.refresh_from_db()
    assert job.workload.reason == "2 of 3 trials ended, 0 running"
