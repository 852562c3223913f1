"""The notebook's WorkloadSpec (pure), its Kubernetes objects, and how a workload's state reads as a
notebook's."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from django.db import transaction

from mlplatform.compute.models import Workload
from mlplatform.compute.spec import WorkloadKind, spec_from_dict, spec_to_dict, validate_spec
from notebooks_app.models import Notebook
from notebooks_app.services import notebook_create
from notebooks_app.specs import LAUNCHER_SOURCE, notebook_spec
from tests.compute.test_manifests import build, one, schema_errors
from tests.factories import quota

SECRET = "the-proxys-token"


def spec(**overrides):
    values = {
        "project": "team-a",
        "name": "lab",
        "image": "quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24",
        "flavor": "a100",
        "gpus": 2,
        "cpu": Decimal(24),
        "memory_gib": Decimal(170),
        "home_size_gib": 50,
        "env": {"WANDB_MODE": "offline"},
        "token_sha256": hashlib.sha256(SECRET.encode()).hexdigest(),
        "user": "alice",
        "python": "/venv/bin/python",
    }
    return notebook_spec(**(values | overrides))


def test_a_notebook_is_one_jupyter_with_a_persistent_home_behind_the_proxy_path():
    built = spec()

    validate_spec(built)
    assert built.kind == WorkloadKind.NOTEBOOK
    assert built.name == "lab"
    (group,) = built.groups
    assert group.role == "notebook"
    assert group.count == 1
    assert group.ports == (8888,)
    assert group.readiness_path == "/notebooks/team-a/lab/api"
    (home,) = group.volumes
    assert (home.name, home.mount_path, home.size_gib, home.persistent) == ("home", "/home/jovyan", 50, True)
    assert (group.resources.flavor, group.resources.gpus) == ("a100", 2)
    assert group.resources.cpu == 24
    assert group.env["HOME"] == "/home/jovyan"
    assert group.env["WANDB_MODE"] == "offline"
    assert group.env["MLPLATFORM_NOTEBOOK_USER"] == "alice"
    assert spec_from_dict(spec_to_dict(built)) == built


def test_the_workload_carries_the_tokens_digest_never_the_token():
    built = spec()

    assert SECRET not in str(spec_to_dict(built))
    group = built.groups[0]
    assert group.env["MLPLATFORM_NOTEBOOK_TOKEN_SHA256"] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert not group.secret_env


def test_locally_it_runs_this_pythons_jupyterlab_on_the_allocated_loopback_port():
    local = spec().groups[0].local

    assert local.command == ("/venv/bin/python", "-c", LAUNCHER_SOURCE)
    assert "--ServerApp.base_url=/notebooks/team-a/lab/" in local.args
    assert "--ServerApp.ip=127.0.0.1" in local.args
    assert "--ServerApp.port=$(MLPLATFORM_PORT)" in local.args
    assert "--ServerApp.root_dir=$(MLPLATFORM_VOLUME_HOME)" in local.args


def test_the_launcher_passes_through_kubernetes_variable_expansion_unchanged():
    # command and args are expanded as $(NAME) on both backends: the launcher must have no `$`
    assert "$" not in LAUNCHER_SOURCE


def test_in_an_image_its_entrypoint_starts_the_images_own_jupyter_on_8888():
    group = spec().groups[0]

    assert group.command == ()
    assert group.args[:3] == ("python", "-c", LAUNCHER_SOURCE)
    assert "--ServerApp.port=8888" in group.args
    assert "--ServerApp.ip=0.0.0.0" in group.args
    assert "--ServerApp.root_dir=$(MLPLATFORM_VOLUME_HOME)" in group.args


def test_on_kubernetes_it_is_a_valid_stateful_set_with_a_claim_gpus_and_a_readiness_probe():
    objects = build(spec())

    assert schema_errors(objects) == []
    pod = one(objects, "StatefulSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["readinessProbe"]["httpGet"] == {"path": "/notebooks/team-a/lab/api", "port": 8888}
    assert {"name": "home", "mountPath": "/home/jovyan"} in container["volumeMounts"]
    assert pod["securityContext"]["fsGroup"]
    claim = one(objects, "PersistentVolumeClaim")
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert SECRET not in str(objects)
    assert "/venv/bin/python" not in str(objects)  # the local backend's command stays out of the pod


def test_a_notebook_starts_the_same_workload_whatever_backend_is_the_default(
    settings, project, member, images
):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    owner = member()

    def submitted(backend: str) -> dict:
        settings.COMPUTE_BACKEND = backend
        with transaction.atomic():
            notebook = notebook_create(project=project, owner=owner, name="lab")
            workload = notebook.workload.spec
            transaction.set_rollback(True)  # the next one may use the same name
        (group,) = workload["groups"]
        del group["env"]["MLPLATFORM_NOTEBOOK_TOKEN_SHA256"]  # a new token for every start
        return workload

    assert submitted("local") == submitted("kubernetes")


@pytest.mark.parametrize(
    ("workload_state", "notebook_state"),
    [
        ("QUEUED", "QUEUED"),
        ("ADMITTED", "PROVISIONING"),
        ("STARTING", "STARTING"),
        ("RUNNING", "ACTIVE"),
        ("CANCELLING", "STOPPING"),
        ("CANCELLED", "STOPPED"),
        ("SUCCEEDED", "STOPPED"),
        ("FAILED", "FAILED"),
    ],
)
def test_a_notebook_reads_its_state_from_its_workload(workload_state, notebook_state):
    workload = Workload(state=workload_state, reason="team-a uses 2 of 2 GPUs")
    notebook = Notebook(workload=workload)

    assert notebook.state == notebook_state
    assert bool(notebook.reason) == (notebook_state in ("QUEUED", "FAILED"))


def test_without_a_workload_a_notebook_is_stopped_and_being_deleted_wins():
    assert Notebook().state == "STOPPED"
    deleting = Notebook(workload=Workload(state="RUNNING"), desired_state=Notebook.Desired.DELETED)
    assert deleting.state == "DELETING"


def test_the_launcher_reads_the_token_header_the_proxy_writes():
    from notebooks_app import jupyter_launch, specs

    assert jupyter_launch.TOKEN_HEADER == specs.TOKEN_HEADER
