"""The Kubernetes backend on the real control plane (`control_plane`): the API server's own
defaulting and validation, the Job controller's podFailurePolicy and backoff with exit codes that
kwok's pods report, the garbage collector deleting by owner reference, and real list and watch.

kwok plays the kubelets (tests/cluster/kwok.yaml): a Job's pod runs for MLPLATFORM_TEST_RUN_FOR and
succeeds, or fails with MLPLATFORM_TEST_EXIT_CODE. Each test works in a namespace of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from mlplatform.compute.backends.base import LABEL_WORKLOAD, FlavorInfo, Phase, Stage, Wiring, WorkloadRef
from mlplatform.compute.backends.kubernetes.backend import KubernetesBackend
from mlplatform.compute.backends.kubernetes.client import KubeClient
from mlplatform.compute.backends.kubernetes.informer import Informer, Informers
from mlplatform.compute.spec import (
    ExitCodeAction,
    ExitCodeRule,
    FailurePolicy,
    ReplicaGroup,
    Resources,
    Volume,
    WorkloadKind,
    WorkloadSpec,
)
from mlplatform.quotas.catalog import GPU_TOLERATION

pytestmark = pytest.mark.cluster

T4 = FlavorInfo(
    name="nvidia-tesla-t4",
    resource_name="nvidia.com/gpu",
    node_selector={"nvidia.com/gpu.product": "Tesla-T4"},
    tolerations=tuple(GPU_TOLERATION),
)
FLAVORS = {"cpu": FlavorInfo(name="cpu"), T4.name: T4}
WIRING = Wiring(env={"AWS_ENDPOINT_URL": "http://minio:9000"}, secret_env={"AWS_SECRET_ACCESS_KEY": "s3cr3t"})


@pytest.fixture
def backend(control_plane_client) -> KubernetesBackend:
    client = KubeClient(control_plane_client, timeout=10)
    return KubernetesBackend(client, informers=Informers(client, idle_seconds=0.2))


@pytest.fixture
def ref(backend) -> WorkloadRef:
    ref = WorkloadRef(id=uuid.uuid4().hex, project=f"t-{uuid.uuid4().hex[:8]}", name="mnist")
    yield ref
    backend.client.delete("Namespace", None, ref.project)


def training(
    *, worker_env: dict | None = None, policy: FailurePolicy | None = None, gpus: int = 0
) -> WorkloadSpec:
    resources = Resources(flavor=T4.name, gpus=gpus) if gpus else Resources(flavor="cpu")
    return WorkloadSpec(
        name="mnist",
        kind=WorkloadKind.BATCH,
        groups=(
            ReplicaGroup(role="chief", count=1, image="trainer:1", ports=(2222,), resources=resources),
            ReplicaGroup(role="worker", count=2, image="trainer:1", ports=(2222,), env=worker_env or {}),
        ),
        failure_policy=policy or FailurePolicy(),
    )


def eventually(check: Callable[[], object], *, timeout: float = 60, every: float = 0.5):
    """`check()`'s first truthy result; fails with the last one after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not within {timeout} s: {result!r}"
            return result
        time.sleep(every)


def status_of(backend: KubernetesBackend, ref: WorkloadRef, phase: Phase):
    def check():
        status = backend.statuses([ref])[ref.id]
        return status if status.phase == phase else None

    return check


def test_a_training_job_runs_to_success_with_its_gpu_replica_on_the_flavors_node(backend, ref):
    backend.submit(ref, training(gpus=1), FLAVORS, WIRING)
    backend.submit(ref, training(gpus=1), FLAVORS, WIRING)  # a retried submit makes nothing twice

    status = eventually(status_of(backend, ref, Phase.SUCCEEDED))

    assert status.message == "every replica succeeded"
    assert [(r.role, r.index, r.phase, r.exit_code) for r in status.replicas] == [
        ("chief", 0, Phase.SUCCEEDED, 0),
        ("worker", 0, Phase.SUCCEEDED, 0),
        ("worker", 1, Phase.SUCCEEDED, 0),
    ]
    # The Job controller's pod hostnames under the headless Service: what MLPLATFORM_CLUSTER names.
    assert status.replicas[0].address == f"{ref.key}-chief-0.{ref.key}:2222"
    assert status.started_at is not None
    assert status.finished_at is not None
    pods = {
        p["metadata"]["labels"]["mlplatform.io/role"]: p for p in backend.informers["Pod"].of_workload(ref.id)
    }
    assert pods["chief"]["spec"]["nodeName"] == "nvidia-tesla-t4-0"
    assert pods["worker"]["spec"]["nodeName"] == "cpu-0"


def test_an_exit_code_the_failure_policy_names_fails_the_job_at_once(backend, ref):
    policy = FailurePolicy(backoff_limit=3, rules=(ExitCodeRule(ExitCodeAction.FAIL_JOB, (3,)),))
    backend.submit(
        ref, training(worker_env={"MLPLATFORM_TEST_EXIT_CODE": "3"}, policy=policy), FLAVORS, WIRING
    )

    status = eventually(status_of(backend, ref, Phase.FAILED))

    # "worker 0 (pod {job}-0-x7k2q) failed with exit code 3 (Error) (PodFailurePolicy: Container
    # worker for pod {ns}/{pod} failed with exit code 3 matching FailJob rule at index 1)"
    assert status.message.startswith("worker ")
    assert f"(pod {ref.key}-worker-" in status.message
    assert "failed with exit code 3 (Error) (PodFailurePolicy: " in status.message
    assert status.message.endswith("matching FailJob rule at index 1)")  # index 0: DisruptionTarget
    worker_pods = [
        p for p in backend.informers["Pod"].of_workload(ref.id) if "-worker-" in p["metadata"]["name"]
    ]
    assert len(worker_pods) <= 2  # FailJob: no retry


def test_an_exit_code_no_rule_names_is_retried_up_to_the_backoff_limit(backend, ref):
    policy = FailurePolicy(backoff_limit=1, rules=(ExitCodeRule(ExitCodeAction.FAIL_JOB, (3,)),))
    env = {"MLPLATFORM_TEST_EXIT_CODE": "2", "MLPLATFORM_TEST_RUN_FOR": "200ms"}
    backend.submit(ref, training(worker_env=env, policy=policy), FLAVORS, WIRING)

    status = eventually(status_of(backend, ref, Phase.FAILED))

    assert "failed with exit code 2 (Error) (BackoffLimitExceeded: " in status.message
    job = backend.client.get("Job", ref.project, f"{ref.key}-worker")
    assert job["status"]["failed"] >= 2  # the first failure was retried


def test_cancel_leaves_the_rest_to_the_garbage_collector(backend, ref):
    backend.submit(ref, training(worker_env={"MLPLATFORM_TEST_RUN_FOR": "10m"}), FLAVORS, WIRING)
    eventually(status_of(backend, ref, Phase.RUNNING))

    backend.cancel(ref)

    selector = f"{LABEL_WORKLOAD}={ref.id}"

    def left() -> dict[str, int]:
        kinds = ("Job", "Pod", "Service", "Secret", "ConfigMap")
        return {
            kind: len(backend.client.list_objects(kind, namespace=ref.project, selector=selector)[0])
            for kind in kinds
        }

    eventually(lambda: not any(left().values()) or None)
    assert backend.statuses([ref])[ref.id].phase == Phase.MISSING


def test_the_informer_watches_from_its_list_and_lists_again_after_410_gone(control_plane, backend, ref):
    informer = Informer(backend.client, "Secret", idle_seconds=0.2)
    informer.sync_once()
    backend.submit(ref, training(), FLAVORS, WIRING)

    eventually(lambda: informer.sync_once() >= 0 and informer.get(ref.project, f"{ref.key}-storage"))
    assert informer.lists == 1  # what came since, came by watch

    control_plane.compact_etcd()  # the informer's resourceVersion is history now
    informer.sync_once()

    assert informer.lists == 2
    assert informer.get(ref.project, f"{ref.key}-storage") is not None


def test_a_replica_no_node_can_take_waits_for_scheduling_with_the_schedulers_reason(backend, ref):
    backend.submit(ref, training(gpus=16), FLAVORS, WIRING)  # T4 nodes have 8

    def chief_unschedulable():
        status = backend.statuses([ref])[ref.id]
        chief = next((r for r in status.replicas if r.role == "chief"), None)
        return status if chief and chief.stage == Stage.SCHEDULING and chief.message else None

    status = eventually(chief_unschedulable)

    assert status.phase == Phase.PENDING
    assert "Insufficient nvidia.com/gpu" in status.message
    assert status.message.startswith("chief 0: 0/8 nodes are available")


def test_a_service_runs_once_its_deployments_pods_are_ready(backend, ref):
    server = ReplicaGroup(role="server", count=2, image="predictor:1", ports=(8080,), max_count=4)
    spec = WorkloadSpec(name="iris", kind=WorkloadKind.SERVICE, groups=(server,))
    backend.submit(ref, spec, FLAVORS, Wiring())

    status = eventually(status_of(backend, ref, Phase.RUNNING))

    assert [(r.role, r.index, r.phase) for r in status.replicas] == [
        ("server", 0, Phase.RUNNING),
        ("server", 1, Phase.RUNNING),
    ]


def test_a_notebook_waits_for_its_home_volume_where_nothing_provisions_it(backend, ref):
    home = Volume(name="home", mount_path="/home/jovyan", size_gib=10, persistent=True)
    group = ReplicaGroup(role="notebook", count=1, image="jupyter:1", ports=(8888,), volumes=(home,))
    backend.submit(
        ref, WorkloadSpec(name="lab", kind=WorkloadKind.NOTEBOOK, groups=(group,)), FLAVORS, Wiring()
    )

    def waiting():
        status = backend.statuses([ref])[ref.id]
        return status if status.message else None

    status = eventually(waiting)

    assert status.phase == Phase.PENDING
    assert "unbound immediate PersistentVolumeClaims" in status.message
