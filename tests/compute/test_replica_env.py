"""The environment contract (mlplatform.compute.replica_env): for the same spec, a local replica's
env file and a pod's container env give the same MLPLATFORM_* names, in the same order, meaning the
same, and `$(NAME)` in a group's env expands the same way on both."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from mlplatform.compute.backends.base import FlavorInfo, Wiring, WorkloadRef
from mlplatform.compute.backends.kubernetes.manifests import COMPLETION_INDEX_ANNOTATION, workload_objects
from mlplatform.compute.backends.local.backend import LocalBackend
from mlplatform.compute.envexpand import expand_all
from mlplatform.compute.replica_env import CLUSTER, PORT, PREFIX, volume_variable
from mlplatform.compute.spec import ReplicaGroup, Volume, WorkloadKind, WorkloadSpec

FLAVORS = {"cpu": FlavorInfo(name="cpu")}
WIRING = Wiring(env={"MLPLATFORM_DEFAULT_BUCKET": "s3://models/"})
SCRATCH = Volume(name="scratch-data", mount_path="/scratch")
GROUP_ENV = {"WHO": "$(MLPLATFORM_REPLICA_ROLE)-$(MLPLATFORM_REPLICA_INDEX) of $(MLPLATFORM_WORKLOAD)"}


def group(role: str, count: int, ports: tuple[int, ...]) -> ReplicaGroup:
    return ReplicaGroup(
        role=role,
        count=count,
        image="python:3.12",
        command=(sys.executable, "-c", "pass"),
        env=GROUP_ENV,
        ports=ports,
        volumes=(SCRATCH,),
    )


SPEC = WorkloadSpec(
    name="mnist", kind=WorkloadKind.BATCH, groups=(group("master", 1, (2222,)), group("worker", 2, ()))
)


@pytest.fixture
def backend(tmp_path):
    backend = LocalBackend(tmp_path / "local", grace_seconds=0.5)
    yield backend
    backend.collect_garbage(set())


def local_envs(backend: LocalBackend, ref: WorkloadRef) -> dict[tuple[str, int], dict[str, str]]:
    """What each local replica is started with: its env file."""
    backend.submit(ref, SPEC, FLAVORS, WIRING)
    private = backend.run_dir(ref) / "private"
    return {
        (g.role, index): json.loads((private / f"{g.role}-{index}.env.json").read_text())
        for g in SPEC.groups
        for index in range(g.count)
    }


def pod_envs(ref: WorkloadRef) -> dict[tuple[str, int], dict[str, str]]:
    """What each pod's container sees: the Job's env with the completion index filled in and
    `$(NAME)` expanded in order, as the Job controller and the kubelet do."""
    envs = {}
    for job in (o for o in workload_objects(ref, SPEC, FLAVORS, WIRING, None) if o["kind"] == "Job"):
        (container,) = job["spec"]["template"]["spec"]["containers"]
        for index in range(job["spec"]["completions"]):
            annotations = {COMPLETION_INDEX_ANNOTATION: str(index)}
            values = {var["name"]: _value(var, annotations) for var in container["env"]}
            envs[(container["name"], index)] = expand_all(values, {})
    return envs


def _value(var: dict, annotations: dict) -> str:
    if "value" in var:
        return var["value"]
    path = var["valueFrom"]["fieldRef"]["fieldPath"]
    return annotations[path.removeprefix("metadata.annotations['").removesuffix("']")]


def platform(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name.startswith(PREFIX)}


def test_both_backends_give_a_replica_the_same_platform_variables(backend):
    ref = WorkloadRef(id=uuid.uuid4().hex, project="team-a", name="mnist")

    local, pods = local_envs(backend, ref), pod_envs(ref)

    assert local.keys() == pods.keys() == {("master", 0), ("worker", 0), ("worker", 1)}
    for (role, index), pod in pods.items():
        here = local[(role, index)]
        assert (
            list(platform(here))
            == list(platform(pod))
            == [
                "MLPLATFORM_WORKLOAD",
                "MLPLATFORM_REPLICA_ROLE",
                "MLPLATFORM_REPLICA_INDEX",
                "MLPLATFORM_CLUSTER",
                "MLPLATFORM_PORT",
                "MLPLATFORM_VOLUME_SCRATCH_DATA",
                "MLPLATFORM_DEFAULT_BUCKET",
            ]
        )
        for name in ("MLPLATFORM_WORKLOAD", "MLPLATFORM_REPLICA_ROLE", "MLPLATFORM_REPLICA_INDEX"):
            assert here[name] == pod[name]
        assert (pod["MLPLATFORM_REPLICA_ROLE"], pod["MLPLATFORM_REPLICA_INDEX"]) == (role, str(index))
        assert here["MLPLATFORM_DEFAULT_BUCKET"] == pod["MLPLATFORM_DEFAULT_BUCKET"] == "s3://models/"
        # Same peers, each at its own address; the replica listens on the port of its own.
        here_cluster, pod_cluster = json.loads(here[CLUSTER]), json.loads(pod[CLUSTER])
        assert {r: len(a) for r, a in here_cluster.items()} == {r: len(a) for r, a in pod_cluster.items()}
        assert here_cluster[role][index].rsplit(":", 1)[1] == here[PORT]
        assert pod_cluster[role][index].rsplit(":", 1)[1] == pod[PORT]
        # The volume is where it is mounted: a host folder here, the mount path in the pod.
        assert Path(here[volume_variable("scratch-data")]).is_dir()
        assert pod[volume_variable("scratch-data")] == "/scratch"
        # The group's env expands against them alike.
        assert here["WHO"] == pod["WHO"] == f"{role}-{index} of {ref.id}"
