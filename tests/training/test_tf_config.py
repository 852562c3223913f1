"""One TF_CONFIG: what a replica's runner exports, what a custom container's spec sets, and what
the job's page shows are the same for every replica of a master + workers + parameter server job."""

from __future__ import annotations

import json

import pytest

from mlplatform.compute.envexpand import expand, expand_all
from mlplatform.compute.spec import spec_to_dict
from mlplatform.storage.services import storage_connection_create
from tests.packages import uploaded
from training_app.runtime import trainer
from training_app.services import training_plan
from training_app.specs import TrialRun
from training_app.views import tf_configs

CLUSTER = {
    "master": ["10.0.0.1:2222"],
    "worker": ["10.0.0.2:2222", "10.0.0.3:2222"],
    "ps": ["10.0.0.4:2222"],
}


@pytest.fixture
def team(project, settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    uploaded(settings.STORAGE_LOCAL_ROOT / "demo")  # the trainer packages its jobs name
    return project


def test_the_runner_the_spec_and_the_page_agree_on_every_replica(team, settings):
    settings.COMPUTE_BACKEND = "kubernetes"
    training_input = {
        "scaleTier": "CUSTOM",
        "masterType": "n1-standard-4",
        "masterConfig": {"imageUri": "registry.example/trainer:1"},
        "workerType": "n1-standard-4",
        "workerCount": "2",
        "parameterServerType": "n1-standard-4",
        "parameterServerCount": 1,
        "args": ["--price=$5"],
    }
    spec = training_plan(project=team, job_id="mnist_1", input=training_input, labels={}).spec
    replicas = [
        {"role": role, "index": index, "address": address}
        for role, addresses in CLUSTER.items()
        for index, address in enumerate(addresses)
    ]

    shown = dict(tf_configs(spec_to_dict(spec)["groups"], training_input, replicas))

    assert sorted(shown) == ["master-0", "ps-0", "worker-0", "worker-1"]
    for group in spec.groups:
        for index in range(group.count):
            injected = {
                "MLPLATFORM_CLUSTER": json.dumps(CLUSTER),
                "MLPLATFORM_REPLICA_ROLE": group.role,
                "MLPLATFORM_REPLICA_INDEX": str(index),
            }
            env = expand_all(group.env, injected) | injected
            in_spec = json.loads(env["TF_CONFIG"])
            exported = json.loads(trainer.distributed_env(env)["TF_CONFIG"])
            assert in_spec == exported == shown[f"{group.role}-{index}"]
            assert in_spec["cluster"] == CLUSTER
            assert in_spec["task"] == {"type": group.role, "index": index}
            assert in_spec["job"]["worker_count"] == "2"
            assert in_spec["job"]["args"] == ["--price=$5"]


@pytest.mark.parametrize("backend", ["local", "kubernetes"])
def test_a_tuning_trial_has_its_id_in_tf_config_and_cloud_ml_trial_id(team, settings, backend):
    settings.COMPUTE_BACKEND = backend
    hyperparameters = {
        "goal": "MAXIMIZE",
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 6}],
    }
    where = (
        {"masterConfig": {"imageUri": "registry.example/trainer:1"}}
        if backend == "kubernetes"
        else {"packageUris": ["gs://demo/trainer-0.1.tar.gz"], "pythonModule": "trainer.task"}
    )
    training_input = {**where, "hyperparameters": hyperparameters, "jobDir": "gs://demo/jobs/tune/"}
    trial = TrialRun(id="3", args=("--x=2.5",))

    spec = training_plan(project=team, job_id="tune_1", input=training_input, labels={}, trial=trial).spec

    (master,) = spec.groups
    injected = {
        "MLPLATFORM_CLUSTER": "{}",
        "MLPLATFORM_REPLICA_ROLE": "master",
        "MLPLATFORM_REPLICA_INDEX": "0",
    }
    env = expand_all(master.env, injected) | injected
    exported = trainer.distributed_env(env)
    assert json.loads(exported["TF_CONFIG"])["task"] == {"type": "master", "index": 0, "trial": "3"}
    assert exported["CLOUD_ML_TRIAL_ID"] == "3"
    if backend == "kubernetes":  # a container gets them in its spec
        assert json.loads(env["TF_CONFIG"])["task"]["trial"] == "3"
        assert env["CLOUD_ML_TRIAL_ID"] == "3"
    assert master.args[-3:] == ("--x=2.5", "--job-dir", "gs://demo/jobs/tune/3")
    assert spec.name == "tune-1-trial-3"


def test_a_trial_of_a_container_with_its_own_args_gets_its_values_after_them(team, settings):
    settings.COMPUTE_BACKEND = "kubernetes"
    training_input = {
        "masterConfig": {"imageUri": "registry.example/trainer:1", "containerArgs": ["--epochs=2"]},
        "hyperparameters": {
            "goal": "MAXIMIZE",
            "params": [
                {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["$(HOME)"]}
            ],
        },
    }
    trial = TrialRun(id="1", args=("--optimizer=$(HOME)",))

    (master,) = training_plan(
        project=team, job_id="tune_1", input=training_input, labels={}, trial=trial
    ).spec.groups

    assert [expand(arg, {"HOME": "/root"}) for arg in master.args] == ["--epochs=2", "--optimizer=$(HOME)"]
