"""trainingInput -> WorkloadSpec: machines and accelerators from the catalog, roles, the runner's
command line, runtime images, custom containers, scheduling, retries, and every refusal."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings

from mlplatform.compute.backends.base import FlavorInfo, Wiring, WorkloadRef
from mlplatform.compute.backends.kubernetes.manifests import workload_objects
from mlplatform.compute.envexpand import expand, expand_all
from mlplatform.compute.spec import ExitCodeAction, ExitCodeRule, FailurePolicy, validate_spec
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.quotas.models import Flavor
from mlplatform.storage.services import storage_connection_create
from tests.compute.test_manifests import schema_errors
from tests.packages import uploaded
from training_app.models import RuntimeVersion
from training_app.services import training_plan
from training_app.specs import workload_name

PACKAGE = "gs://demo/packages/trainer-0.1.tar.gz"
RUNNER = Path(__file__).resolve().parents[2] / "training_app" / "runtime" / "trainer.py"


@pytest.fixture
def team(project, settings, tmp_path):
    """team-a with a local bucket `demo` (gs:// and s3://), on the local backend."""
    settings.COMPUTE_BACKEND = "local"
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    settings.DATA_DIR = tmp_path / "data"
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    uploaded(settings.STORAGE_LOCAL_ROOT / "demo")  # the trainer packages its jobs name
    return project


def plan(team, labels=None, job_id="mnist_1", **training_input):
    """The plan of a package job, the local backend being the default."""
    training_input.setdefault("packageUris", [PACKAGE])
    training_input.setdefault("pythonModule", "trainer.task")
    return training_plan(project=team, job_id=job_id, input=training_input, labels=labels or {})


@override_settings(COMPUTE_BACKEND="kubernetes")
def container_plan(team, **training_input):
    training_input.setdefault("masterConfig", {"imageUri": "registry.example/trainer:1"})
    return training_plan(project=team, job_id="mnist_1", input=training_input, labels={})


def shapes(result) -> dict[str, tuple]:
    """role: (count, flavor, GPUs, vCPUs, GiB) per replica group."""
    return {
        g.role: (g.count, g.resources.flavor, g.resources.gpus, g.resources.cpu, g.resources.memory_gib)
        for g in result.spec.groups
    }


def refusal(team, labels=None, **training_input) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        plan(team, labels=labels, **training_input)
    return caught.value


# --- machines ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (None, {"master": (1, "cpu", 0, Decimal(4), Decimal(15))}),
        ("BASIC", {"master": (1, "cpu", 0, Decimal(4), Decimal(15))}),
        ("BASIC_GPU", {"master": (1, "nvidia-tesla-t4", 1, Decimal(8), Decimal(30))}),
        (
            "STANDARD_1",
            {
                "master": (1, "cpu", 0, Decimal(8), Decimal("7.2")),
                "worker": (4, "cpu", 0, Decimal(8), Decimal("7.2")),
                "ps": (3, "cpu", 0, Decimal(8), Decimal("7.2")),
            },
        ),
        (
            "PREMIUM_1",
            {
                "master": (1, "cpu", 0, Decimal(16), Decimal("14.4")),
                "worker": (19, "cpu", 0, Decimal(16), Decimal("14.4")),
                "ps": (11, "cpu", 0, Decimal(16), Decimal("14.4")),
            },
        ),
    ],
)
def test_scale_tiers_start_the_catalog_shapes(team, tier, expected):
    result = plan(team, **({"scaleTier": tier} if tier else {}))

    assert shapes(result) == expected
    assert [g.role for g in result.spec.groups] == list(expected)


def test_custom_gives_each_kind_its_machine_accelerators_and_count(team):
    result = plan(
        team,
        scaleTier="CUSTOM",
        masterType="n1-standard-8",
        masterConfig={"acceleratorConfig": {"count": "2", "type": "NVIDIA_TESLA_T4"}},
        workerType="complex_model_m_gpu",
        workerCount="3",
        parameterServerType="n1-highmem-8",
        parameterServerCount=2,
        evaluatorType="n1-standard-16",
        evaluatorCount="1",
        evaluatorConfig={"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_A100"}},
    )

    assert shapes(result) == {
        "master": (1, "nvidia-tesla-t4", 2, Decimal(8), Decimal(30)),
        "worker": (3, "nvidia-tesla-t4", 4, Decimal(16), Decimal(60)),
        "ps": (2, "cpu", 0, Decimal(8), Decimal(52)),
        "evaluator": (1, "nvidia-a100-40gb", 1, Decimal(16), Decimal(60)),
    }
    assert result.spec.replicas == 7
    assert all(group.ports == (2222,) for group in result.spec.groups)


def test_machine_types_built_with_gpus_bring_them_and_zero_counts_start_nobody(team):
    result = plan(
        team, scaleTier="CUSTOM", masterType="a2-highgpu-2g", workerType="n1-standard-4", workerCount="0"
    )

    assert shapes(result) == {"master": (1, "nvidia-a100-40gb", 2, Decimal(24), Decimal(170))}


@pytest.mark.parametrize(
    ("fields", "role"),
    [
        ({}, "master"),  # no runtimeVersion: AI Platform's old default runtime (1.x) said "master"
        ({"runtimeVersion": "2.1", "pythonVersion": "3.7"}, "chief"),
        ({"runtimeVersion": "2.11"}, "chief"),
        ({"useChiefInTfConfig": True}, "chief"),
        ({"useChiefInTfConfig": False}, "master"),
    ],
)
def test_runtime_2_1_and_later_or_use_chief_name_the_master_chief(team, fields, role):
    result = plan(team, scaleTier="STANDARD_1", **fields)

    assert [g.role for g in result.spec.groups] == [role, "worker", "ps"]
    assert {g.env["MLPLATFORM_USE_CHIEF"] for g in result.spec.groups} == {str(role == "chief").lower()}


# --- what runs -----------------------------------------------------------------------------


def test_package_jobs_run_the_runner_with_packages_module_args_then_job_dir(team):
    result = plan(
        team,
        packageUris=[PACKAGE, "s3://demo/packages/utils-1.0-py3-none-any.whl"],
        args=["--epochs", "1", "--price=$(HOME)"],
        jobDir="gs://demo/jobs/mnist_1",
    )

    (master,) = result.spec.groups
    assert master.command == ("python", "/opt/mlplatform/trainer.py")
    assert master.local.command == (sys.executable, str(RUNNER))
    assert RUNNER.is_file()
    assert (
        master.local.args
        == master.args
        == (
            "--package-uris",
            f"{PACKAGE},s3://demo/packages/utils-1.0-py3-none-any.whl",
            "--module",
            "trainer.task",
            "--",
            "--epochs",
            "1",
            "--price=$$(HOME)",
            "--job-dir",
            "gs://demo/jobs/mnist_1",
        )
    )
    # Both backends expand $(NAME) in args: the trainer still gets its argument as written.
    assert expand(master.args[7], {"HOME": "/root"}) == "--price=$(HOME)"


def test_image_backends_run_the_runner_carried_by_the_runtime_image_and_the_local_one_ours(team, settings):
    result = plan(team)

    (master,) = result.spec.groups
    assert (master.image, master.command) == ("python:3.11-slim", ("python", "/opt/mlplatform/trainer.py"))
    assert "MLPLATFORM_VENV_CACHE" not in master.env
    # The local backend runs this repository's runner, replicas sharing one virtualenv cache.
    assert master.local.command == (sys.executable, str(RUNNER))
    assert master.local.env == {"MLPLATFORM_VENV_CACHE": str(Path(settings.DATA_DIR) / "local" / "venvs")}


def test_every_replica_gets_the_job_for_tf_config_and_a_shared_virtualenv_cache(team, settings):
    training_input = {"scaleTier": "STANDARD_1", "packageUris": [PACKAGE], "pythonModule": "trainer.task"}
    training_input["args"] = ["--cost=$5"]
    result = training_plan(project=team, job_id="mnist_1", input=training_input, labels={})

    for group in result.spec.groups:
        env = expand_all(group.env, {})
        assert json.loads(env["MLPLATFORM_TRAINING_JOB"]) == {
            "job_id": "mnist_1",
            "project": "team-a",
            "training_input": training_input,
        }
        assert group.local.env["MLPLATFORM_VENV_CACHE"] == str(Path(settings.DATA_DIR) / "local" / "venvs")


@pytest.mark.parametrize(
    ("runtime", "python", "image"),
    [
        ("", "", "python:3.11-slim"),  # the default row
        ("2.11", "3.7", "python:3.7-slim"),  # the exact pair
        ("2.8", "", "python:3.7-slim"),  # the runtime's newest Python
        ("2.11", "3.10", "example/any-python:2.11"),  # the runtime's row for any Python
    ],
)
def test_package_jobs_run_on_the_runtime_versions_image(team, runtime, python, image):
    RuntimeVersion.objects.create(runtime_version="2.11", python_version="", image="example/any-python:2.11")

    result = plan(team, runtimeVersion=runtime, pythonVersion=python)

    assert {g.image for g in result.spec.groups} == {image}


def test_custom_containers_run_their_images_with_tf_config_completed_by_kubernetes(team):
    result = container_plan(
        team,
        scaleTier="CUSTOM",
        masterType="n1-standard-4",
        masterConfig={"imageUri": "registry.example/trainer:1", "containerArgs": ["--lr", "0.1"]},
        workerType="n1-standard-4",
        workerCount="2",
        workerConfig={"imageUri": "registry.example/worker:1", "containerCommand": ["python", "-m", "w"]},
        useChiefInTfConfig=True,
        jobDir="gs://demo/jobs/x",
    )

    chief, worker = result.spec.groups
    assert (chief.local, worker.local) == (None, None)  # the local backend cannot run them
    assert (chief.role, chief.image, chief.command, chief.args) == (
        "chief",
        "registry.example/trainer:1",
        (),
        ("--lr", "0.1"),
    )
    assert (worker.image, worker.command, worker.args) == (
        "registry.example/worker:1",
        ("python", "-m", "w"),
        ("--job-dir", "gs://demo/jobs/x"),
    )
    cluster = {"chief": ["c-0.s:2222"], "worker": ["w-0.s:2222", "w-1.s:2222"]}
    injected = {
        "MLPLATFORM_CLUSTER": json.dumps(cluster),
        "MLPLATFORM_REPLICA_ROLE": "worker",
        "MLPLATFORM_REPLICA_INDEX": "1",
    }
    env = expand_all(worker.env, injected)
    tf_config = json.loads(env["TF_CONFIG"])
    assert tf_config["cluster"] == cluster
    assert tf_config["task"] == {"type": "worker", "index": 1}
    assert tf_config["environment"] == "cloud"
    assert tf_config["job"]["worker_count"] == "2"
    assert tf_config["job"]["master_config"]["image_uri"] == "registry.example/trainer:1"
    assert json.loads(env["CLOUD_ML_JOB"]) == tf_config["job"]
    assert json.loads(env["CLUSTER_SPEC"]) == tf_config
    assert env["CLOUD_ML_JOB_ID"] == "mnist_1"


def test_job_specs_become_valid_kubernetes_objects(team):
    package = plan(
        team,
        scaleTier="CUSTOM",
        masterType="n1-standard-8",
        masterConfig={"acceleratorConfig": {"count": "1", "type": "NVIDIA_H100_80GB"}},
        workerType="standard_gpu",
        workerCount=2,
        args=["--data=$(DATA)"],
        labels={"mlplatform-retries": "2", "mlplatform-fail-fast-exit-codes": "3"},
    )
    container = container_plan(team, scaleTier="BASIC_GPU", args=["--epochs", "3"])
    flavors = {
        f.name: FlavorInfo(
            name=f.name,
            resource_name=f.resource_name,
            node_selector=dict(f.node_selector),
            tolerations=tuple(f.tolerations),
        )
        for f in Flavor.objects.all()
    }

    built = []
    for result in (package, container):
        validate_spec(result.spec)
        ref = WorkloadRef(id="0123456789abcdef0123456789abcdef", project="team-a", name=result.spec.name)
        built.append(workload_objects(ref, result.spec, flavors, Wiring(), owner=None))

    assert [schema_errors(objects) for objects in built] == [[], []]
    jobs = [obj["spec"] for obj in built[0] if obj["kind"] == "Job"]
    assert [(job["completions"], job["backoffLimit"]) for job in jobs] == [(1, 2), (2, 2)]
    resources = [job["template"]["spec"]["containers"][0]["resources"]["limits"] for job in jobs]
    assert [limits["nvidia.com/gpu"] for limits in resources] == ["1", "1"]


# --- scheduling and retries ----------------------------------------------------------------


def test_scheduling_sets_the_run_and_wait_limits_and_the_priority(team):
    result = plan(team, scheduling={"maxRunningTime": "7200s", "maxWaitTime": "1.5s", "priority": "500"})

    assert result.spec.failure_policy.max_run_seconds == 7200
    assert result.max_wait_seconds == 2
    assert result.priority == 500


def test_without_scheduling_a_job_may_run_seven_days_and_wait_forever(team):
    result = plan(team)

    assert result.spec.failure_policy == FailurePolicy(max_run_seconds=7 * 24 * 3600)
    assert (result.priority, result.max_wait_seconds) == (0, None)


def test_labels_set_retries_and_exit_code_rules(team):
    labels = {
        "mlplatform-retries": "2",
        "mlplatform-fail-fast-exit-codes": "4-3",
        "mlplatform-retry-exit-codes": "137",
        "team": "vision",
    }

    result = plan(team, labels=labels, scheduling={"maxRunningTime": "60s"})

    assert result.spec.failure_policy == FailurePolicy(
        backoff_limit=2,
        rules=(
            ExitCodeRule(ExitCodeAction.FAIL_JOB, (3, 4)),
            ExitCodeRule(ExitCodeAction.COUNT, (137,)),
        ),
        max_run_seconds=60,
    )


@pytest.mark.parametrize(
    ("job_id", "name"),
    [
        ("mnist_1", "mnist-1"),
        ("Census__Wide_v2", "census-wide-v2"),
        ("a" * 128, "a" * 40),
        ("x" * 39 + "_y", "x" * 39),
    ],
)
def test_workload_names_are_dns_labels_derived_from_the_job_id(job_id, name):
    assert workload_name(job_id) == name
    assert workload_name("9lives") == "job-9lives"


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("training_input", "field"),
    [
        ({"scaleTier": "BASIC_TPU"}, "trainingInput.scaleTier"),
        ({"scaleTier": "HUGE"}, "trainingInput.scaleTier"),
        ({"scaleTier": "CUSTOM"}, "trainingInput.masterType"),
        ({"scaleTier": "CUSTOM", "masterType": "n9-giant-1"}, "trainingInput.masterType"),
        ({"scaleTier": "CUSTOM", "masterType": "BASIC"}, "trainingInput.masterType"),
        (
            {"scaleTier": "CUSTOM", "masterType": "n1-standard-4", "workerCount": "2"},
            "trainingInput.workerType",
        ),
        (
            {"scaleTier": "CUSTOM", "masterType": "n1-standard-4", "workerType": "nope", "workerCount": 1},
            "trainingInput.workerType",
        ),
        (
            {"scaleTier": "CUSTOM", "masterType": "n1-standard-4", "workerCount": "-1"},
            "trainingInput.workerCount",
        ),
        (
            {"scaleTier": "CUSTOM", "masterType": "n1-standard-4", "workerCount": "two"},
            "trainingInput.workerCount",
        ),
        ({"scaleTier": "BASIC", "workerCount": "2"}, "trainingInput.workerCount"),
        ({"scaleTier": "CUSTOM", "masterType": "mls1-c4-m2"}, "trainingInput.masterType"),  # serving only
        ({"scaleTier": "STANDARD_1", "masterType": "n1-standard-4"}, "trainingInput.masterType"),
        (
            {"masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_T4"}}},
            "trainingInput.masterConfig.acceleratorConfig",
        ),
        (
            {
                "scaleTier": "CUSTOM",
                "masterType": "n1-standard-4",
                "masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_K9000"}},
            },
            "trainingInput.masterConfig.acceleratorConfig.type",
        ),
        (
            {
                "scaleTier": "CUSTOM",
                "masterType": "n1-standard-4",
                "workerType": "n1-standard-4",
                "workerCount": "1",
                "workerConfig": {"acceleratorConfig": {"count": 1, "type": "TPU_V3"}},
            },
            "trainingInput.workerConfig.acceleratorConfig.type",
        ),
        (
            {
                "scaleTier": "CUSTOM",
                "masterType": "n1-standard-4",
                "masterConfig": {"acceleratorConfig": {"count": "0", "type": "NVIDIA_TESLA_T4"}},
            },
            "trainingInput.masterConfig.acceleratorConfig.count",
        ),
        (
            {
                "scaleTier": "CUSTOM",
                "masterType": "standard_gpu",
                "masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_T4"}},
            },
            "trainingInput.masterConfig.acceleratorConfig",
        ),
        (
            {
                "scaleTier": "CUSTOM",
                "masterType": "a2-highgpu-1g",
                "masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_T4"}},
            },
            "trainingInput.masterConfig.acceleratorConfig",
        ),
        ({"packageUris": []}, "trainingInput.packageUris"),
        ({"packageUris": [PACKAGE, "https://example.com/x.tar.gz"]}, "trainingInput.packageUris[1]"),
        ({"packageUris": [PACKAGE, "gs://demo/a,b.tar.gz"]}, "trainingInput.packageUris[1]"),
        ({"pythonModule": None}, "trainingInput.pythonModule"),
        ({"pythonModule": "trainer/task.py"}, "trainingInput.pythonModule"),
        ({"args": ["--epochs", 3]}, "trainingInput.args[1]"),
        ({"jobDir": "/tmp/out"}, "trainingInput.jobDir"),
        ({"runtimeVersion": "0.9"}, "trainingInput.runtimeVersion"),
        ({"runtimeVersion": "2.11", "pythonVersion": "2.7"}, "trainingInput.pythonVersion"),
        ({"useChiefInTfConfig": "yes"}, "trainingInput.useChiefInTfConfig"),
        ({"scheduling": {"maxRunningTime": "2h"}}, "trainingInput.scheduling.maxRunningTime"),
        ({"scheduling": {"maxRunningTime": "0s"}}, "trainingInput.scheduling.maxRunningTime"),
        ({"scheduling": {"maxRunningTime": 3600}}, "trainingInput.scheduling.maxRunningTime"),
        ({"scheduling": {"maxWaitTime": "-5s"}}, "trainingInput.scheduling.maxWaitTime"),
        ({"scheduling": {"priority": 1001}}, "trainingInput.scheduling.priority"),
        ({"scheduling": {"priority": "high"}}, "trainingInput.scheduling.priority"),
        ({"scheduling": {"deadline": "5s"}}, "trainingInput.scheduling.deadline"),
        ({"hyperparameters": {"goal": "MAXIMIZE", "maxTrials": 4}}, "trainingInput.hyperparameters.params"),
        ({"network": "projects/1/global/networks/vpc"}, "trainingInput.network"),
        ({"encryptionConfig": {"kmsKeyName": "k"}}, "trainingInput.encryptionConfig"),
        ({"enableWebAccess": True}, "trainingInput.enableWebAccess"),
        ({"serviceAccount": "trainer@p.iam.gserviceaccount.com"}, "trainingInput.serviceAccount"),
        ({"masterConfig": {"tpuTfVersion": "2.11"}}, "trainingInput.masterConfig.tpuTfVersion"),
        ({"masterConfig": {"gpus": 2}}, "trainingInput.masterConfig.gpus"),
        ({"masterConfig": {"containerArgs": ["-v"]}}, "trainingInput.masterConfig.containerArgs"),
        ({"workerConfig": {"imageUri": "registry.example/w:1"}}, "trainingInput.workerConfig.imageUri"),
        ({"masterConfig": {"imageUri": "registry.example/t:1"}}, "trainingInput.packageUris"),  # both
        ({"masterConfig": "n1-standard-4"}, "trainingInput.masterConfig"),
        ({"fancyMode": True}, "trainingInput.fancyMode"),
    ],
)
def test_bad_training_input_is_refused_naming_the_field(team, training_input, field):
    error = refusal(team, **training_input)

    assert error.field == field
    assert error.code == ErrorCode.INVALID_ARGUMENT
    assert error.message


def test_the_local_backend_refuses_custom_containers_plainly(team):
    error = refusal(
        team,
        packageUris=None,
        pythonModule=None,
        masterConfig={"imageUri": "registry.example/t:1"},
    )

    assert error.field == "trainingInput.masterConfig.imageUri"
    assert "custom containers need the Kubernetes backend" in error.message


@pytest.mark.parametrize(
    ("training_input", "field"),
    [
        ({"packageUris": [PACKAGE], "pythonModule": "trainer.task"}, "trainingInput.packageUris"),
        (
            {"args": ["-v"], "masterConfig": {"imageUri": "r/t:1", "containerArgs": ["-q"]}},
            "trainingInput.masterConfig.containerArgs",
        ),
        (
            {"args": ["-v"], "masterConfig": {"imageUri": "r/t:1", "containerCommand": ["t"]}},
            "trainingInput.masterConfig.containerCommand",
        ),
        ({"masterConfig": {"imageUri": ["r/t:1"]}}, "trainingInput.masterConfig.imageUri"),
    ],
)
def test_custom_containers_refuse_packages_and_args_beside_their_own(team, training_input, field):
    with pytest.raises(ApplicationError) as caught:
        container_plan(team, **training_input)

    assert caught.value.field == field


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"mlplatform-retries": "many"}, "labels.mlplatform-retries"),
        ({"mlplatform-retries": "11"}, "labels.mlplatform-retries"),
        ({"mlplatform-fail-fast-exit-codes": "3_4"}, "labels.mlplatform-fail-fast-exit-codes"),
        ({"mlplatform-fail-fast-exit-codes": "0"}, "labels.mlplatform-fail-fast-exit-codes"),
        ({"mlplatform-fail-fast-exit-codes": "256"}, "labels.mlplatform-fail-fast-exit-codes"),
        ({"mlplatform-retry-exit-codes": "137"}, "labels.mlplatform-retry-exit-codes"),
        (
            {
                "mlplatform-retries": "1",
                "mlplatform-fail-fast-exit-codes": "3",
                "mlplatform-retry-exit-codes": "3",
            },
            "labels.mlplatform-retry-exit-codes",
        ),
    ],
)
def test_bad_retry_labels_are_refused_naming_the_label(team, labels, field):
    assert refusal(team, labels=labels).field == field


def test_packages_outside_the_projects_buckets_are_refused_naming_the_bucket(team):
    error = refusal(team, packageUris=[PACKAGE, "gs://other-team/trainer.tar.gz"])

    assert error.field == "trainingInput.packageUris[1]"
    assert error.code == ErrorCode.INVALID_ARGUMENT
    assert "other-team" in error.message


def test_a_job_dir_outside_the_projects_buckets_is_refused(team):
    error = refusal(team, jobDir="s3://elsewhere/jobs/1")

    assert error.field == "trainingInput.jobDir"
    assert "elsewhere" in error.message
