"""The Kubernetes backend against the API test server (tests/kube/), with the real manifests.

The test plays the kubelet and the Job controller (`kube.kubelet`) and reads statuses back the
way the sync task does. No database. The test marked `cluster` runs on a real control plane
instead (KUBECONFIG's cluster, else tests/cluster/'s); tests/cluster/test_kubernetes_backend.py
runs the backend's key paths there.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mlplatform.compute.backends.base import (
    LABEL_WORKLOAD,
    BackendError,
    FlavorInfo,
    Phase,
    ReplicaUsage,
    Stage,
    Wiring,
    WorkloadRef,
)
from mlplatform.compute.backends.kubernetes.backend import KubernetesBackend
from mlplatform.compute.backends.kubernetes.client import KubeClient
from mlplatform.compute.backends.kubernetes.informer import Informers
from mlplatform.compute.backends.kubernetes.manifests import group_name
from mlplatform.compute.spec import ReplicaGroup, Resources, Volume, WorkloadKind, WorkloadSpec
from tests.kube import OPTIONAL_GROUPS, kubeconfig

NS = "team-a"
FLAVORS = {"cpu": FlavorInfo(name="cpu")}
WIRING = Wiring(env={"AWS_ENDPOINT_URL": "http://minio:9000"}, secret_env={"AWS_SECRET_ACCESS_KEY": "s3cr3t"})


def training(name: str = "mnist", workers: int = 2) -> WorkloadSpec:
    return WorkloadSpec(
        name=name,
        kind=WorkloadKind.BATCH,
        groups=(
            ReplicaGroup(role="chief", count=1, image="trainer:1", ports=(2222,)),
            ReplicaGroup(role="worker", count=workers, image="trainer:1", ports=(2222,)),
        ),
    )


def notebook(name: str = "lab") -> WorkloadSpec:
    home = Volume(name="home", mount_path="/home/jovyan", size_gib=10, persistent=True)
    group = ReplicaGroup(role="notebook", count=1, image="jupyter:1", ports=(8888,), volumes=(home,))
    return WorkloadSpec(name=name, kind=WorkloadKind.NOTEBOOK, groups=(group,))


def serving(name: str = "iris") -> WorkloadSpec:
    group = ReplicaGroup(role="server", count=2, image="predictor:1", ports=(8080,), max_count=4)
    return WorkloadSpec(name=name, kind=WorkloadKind.SERVICE, groups=(group,))


def new_ref(name: str = "mnist", project: str = NS) -> WorkloadRef:
    return WorkloadRef(id=uuid.uuid4().hex, project=project, name=name)


def make_backend(api_client, *, timeout: float = 2, garbage_collector: bool = True) -> KubernetesBackend:
    client = KubeClient(api_client, timeout=timeout)
    informers = Informers(client, idle_seconds=0.02)
    return KubernetesBackend(client, informers=informers, garbage_collector=garbage_collector)


@pytest.fixture
def backend(kube) -> KubernetesBackend:
    return make_backend(kube.api_client)


def workload_objects(kube, ref: WorkloadRef) -> dict[str, list[str]]:
    """Kind -> names of what the server has for the workload (its label), besides the namespace."""
    found: dict[str, list[str]] = {}
    for kind in (
        "ConfigMap",
        "Secret",
        "Service",
        "Job",
        "StatefulSet",
        "Deployment",
        "HorizontalPodAutoscaler",
    ):
        names = [
            obj["metadata"]["name"] for obj in kube.objects(kind, ref.project, f"{LABEL_WORKLOAD}={ref.id}")
        ]
        if names:
            found[kind] = sorted(names)
    return found


def job(ref: WorkloadRef, role: str) -> str:
    return group_name(ref, WorkloadKind.BATCH, role)


# --- submit and cancel ---------------------------------------------------------------------


def test_submit_creates_the_namespace_the_root_and_what_the_root_owns(backend, kube):
    ref = new_ref()

    backend.submit(ref, training(), FLAVORS, WIRING)

    assert kube.get("Namespace", "", NS) is not None
    assert workload_objects(kube, ref) == {
        "ConfigMap": [ref.key],
        "Secret": [f"{ref.key}-storage"],
        "Service": [ref.key],
        "Job": sorted([job(ref, "chief"), job(ref, "worker")]),
    }
    root_uid = kube.get("ConfigMap", NS, ref.key)["metadata"]["uid"]
    for kind in ("Secret", "Service", "Job"):
        for obj in kube.objects(kind, NS):
            assert [owner["uid"] for owner in obj["metadata"]["ownerReferences"]] == [root_uid]


def test_a_retried_submit_creates_nothing_twice(backend, kube):
    ref = new_ref()

    backend.submit(ref, training(), FLAVORS, WIRING)
    backend.submit(ref, training(), FLAVORS, WIRING)

    assert set(kube.created.values()) == {1}
    assert len(kube.created) == 6  # namespace, root, secret, service, two jobs


def test_a_spec_the_builders_refuse_fails_for_good_before_anything_is_made(backend, kube):
    spec = WorkloadSpec(
        name="gpu",
        kind=WorkloadKind.BATCH,
        groups=(ReplicaGroup(role="worker", count=1, image="x", resources=Resources(flavor="h100", gpus=1)),),
    )

    with pytest.raises(BackendError) as raised:
        backend.submit(new_ref("gpu"), spec, FLAVORS, WIRING)

    assert not raised.value.temporary
    assert "h100" in str(raised.value)
    assert kube.requests.count("create") == 0


def test_cancel_deletes_the_root_and_the_cluster_collects_the_rest(backend, kube):
    ref = new_ref()
    backend.submit(ref, training(), FLAVORS, WIRING)
    kube.kubelet.start_job(NS, job(ref, "worker"))

    backend.cancel(ref)
    backend.cancel(ref)

    assert workload_objects(kube, ref) == {}
    assert kube.objects("Pod", NS) == []
    assert kube.requests.count("delete") == 2


def test_cancel_without_a_garbage_collector_deletes_the_owned_objects_by_label(kube):
    kube.garbage_collector = False
    backend = make_backend(kube.api_client, garbage_collector=False)
    ref, other = new_ref(), new_ref("other")
    backend.submit(ref, training(), FLAVORS, WIRING)
    backend.submit(other, training("other"), FLAVORS, WIRING)
    kube.kubelet.start_job(NS, job(ref, "worker"))

    backend.cancel(ref)

    assert workload_objects(kube, ref) == {}
    assert kube.objects("Pod", NS, f"{LABEL_WORKLOAD}={ref.id}") == []
    assert workload_objects(kube, other) != {}


def test_a_notebook_keeps_its_home_volume_until_its_volumes_are_deleted(backend, kube):
    ref = new_ref("lab")
    backend.submit(ref, notebook(), FLAVORS, Wiring())

    backend.cancel(ref)

    assert workload_objects(kube, ref) == {}
    assert [claim["metadata"]["name"] for claim in kube.objects("PersistentVolumeClaim", NS)] == ["lab-home"]
    backend.delete_volumes(NS, "lab")
    assert kube.objects("PersistentVolumeClaim", NS) == []


def test_a_service_gets_a_deployment_a_service_and_an_autoscaler(backend, kube):
    ref = new_ref("iris")

    backend.submit(ref, serving(), FLAVORS, Wiring())

    deployment = group_name(ref, WorkloadKind.SERVICE, "server")
    assert workload_objects(kube, ref) == {
        "ConfigMap": [ref.key],
        "Service": [ref.key],
        "Deployment": [deployment],
        "HorizontalPodAutoscaler": [deployment],
    }
    assert backend.endpoint(ref, "server", 8080).url == f"http://{ref.key}.{NS}.svc:8080"


def test_outside_the_cluster_services_are_reached_through_the_api_servers_proxy(
    kube, settings, tmp_path, monkeypatch
):
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", kube.url)))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    ref = new_ref("iris")

    settings.KUBERNETES_SERVICE_ACCESS = "auto"
    outside = KubernetesBackend.from_settings().endpoint(ref, "server", 8080)
    settings.KUBERNETES_SERVICE_ACCESS = "cluster-dns"
    inside = KubernetesBackend.from_settings().endpoint(ref, "server", 8080)
    settings.KUBERNETES_SERVICE_ACCESS = "sideways"
    with pytest.raises(BackendError, match="KUBERNETES_SERVICE_ACCESS is 'sideways'"):
        KubernetesBackend.from_settings()

    assert outside.url == f"{kube.url}/api/v1/namespaces/{NS}/services/{ref.key}:8080/proxy"
    assert outside.via_api_server
    assert ("authorization", "Bearer test") in outside.headers  # the kubeconfig's user
    assert (inside.url, inside.via_api_server, inside.headers) == (
        f"http://{ref.key}.{NS}.svc:8080",
        False,
        (),
    )


def test_collect_garbage_removes_the_workloads_not_kept(backend, kube):
    kept, gone = new_ref("kept"), new_ref("gone")
    backend.submit(kept, training("kept"), FLAVORS, WIRING)
    backend.submit(gone, training("gone"), FLAVORS, WIRING)

    removed = backend.collect_garbage({kept.id})

    assert removed == [f"{NS}/{gone.key}"]
    assert workload_objects(kube, gone) == {}
    assert workload_objects(kube, kept) != {}


# --- status, from the caches ---------------------------------------------------------------


def test_a_replica_says_whether_it_waits_for_a_node_its_image_or_its_readiness(backend, kube):
    ref = new_ref()
    backend.submit(ref, training(), FLAVORS, WIRING)
    kube.kubelet.start_job(NS, job(ref, "chief"), running=False)
    [pod] = kube.kubelet.pods_of("Job", NS, job(ref, "chief"))
    name = pod["metadata"]["name"]

    def chief() -> tuple[Stage | None, str]:
        replica = next(r for r in backend.statuses([ref])[ref.id].replicas if r.role == "chief")
        return replica.stage, replica.message

    why = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": why}
    kube.put({**pod, "status": {"phase": "Pending", "conditions": [unschedulable]}})
    assert chief() == (Stage.SCHEDULING, why)
    kube.kubelet.set_pod(NS, name, waiting="ImagePullBackOff")
    assert chief() == (Stage.PULLING, "ImagePullBackOff")
    kube.kubelet.set_pod(NS, name, ready=False)
    assert chief() == (Stage.STARTING, "not ready")
    kube.kubelet.set_pod(NS, name)
    assert chief() == (Stage.READY, "")


def test_status_follows_a_job_from_pending_to_succeeded(backend, kube):
    ref = new_ref()
    assert backend.statuses([ref])[ref.id].phase == Phase.MISSING

    backend.submit(ref, training(), FLAVORS, WIRING)
    assert backend.statuses([ref])[ref.id].phase == Phase.PENDING

    kube.kubelet.start_job(NS, job(ref, "chief"))
    kube.kubelet.start_job(NS, job(ref, "worker"), running=False)
    pending = backend.statuses([ref])[ref.id]
    assert pending.phase == Phase.PENDING
    assert pending.message == "worker 0: ContainerCreating"

    for pod in kube.kubelet.pods_of("Job", NS, job(ref, "worker")):
        kube.kubelet.set_pod(NS, pod["metadata"]["name"])
    running = backend.statuses([ref])[ref.id]
    assert running.phase == Phase.RUNNING
    assert [(r.role, r.index, r.phase) for r in running.replicas] == [
        ("chief", 0, Phase.RUNNING),
        ("worker", 0, Phase.RUNNING),
        ("worker", 1, Phase.RUNNING),
    ]
    # Addresses as MLPLATFORM_CLUSTER names them: the pods' DNS names under the headless Service
    assert running.replicas[2].address == f"{job(ref, 'worker')}-1.{ref.key}:2222"
    assert running.started_at is not None

    kube.kubelet.finish_job(NS, job(ref, "chief"))
    kube.kubelet.finish_job(NS, job(ref, "worker"))
    done = backend.statuses([ref])[ref.id]
    assert done.phase == Phase.SUCCEEDED
    assert {r.exit_code for r in done.replicas} == {0}
    assert done.finished_at is not None


def test_a_failed_job_names_the_replica_its_exit_code_and_the_reason(backend, kube):
    ref = new_ref()
    backend.submit(ref, training(), FLAVORS, WIRING)
    kube.kubelet.start_job(NS, job(ref, "chief"))
    kube.kubelet.start_job(NS, job(ref, "worker"))

    kube.kubelet.fail_job(NS, job(ref, "worker"), index=1, exit_code=3, reason="PodFailurePolicy", message="")
    status = backend.statuses([ref])[ref.id]

    assert status.phase == Phase.FAILED
    assert status.message.startswith(f"worker 1 (pod {job(ref, 'worker')}-1-")
    assert status.message.endswith("failed with exit code 3 (Error) (PodFailurePolicy)")
    worker = next(r for r in status.replicas if r.role == "worker")
    assert (worker.index, worker.phase, worker.exit_code) == (1, Phase.FAILED, 3)


def test_an_out_of_memory_kill_says_so(backend, kube):
    ref = new_ref()
    backend.submit(ref, training(workers=1), FLAVORS, WIRING)
    kube.kubelet.start_job(NS, job(ref, "worker"))

    kube.kubelet.fail_job(NS, job(ref, "worker"), exit_code=137, pod_reason="OOMKilled")

    assert "exit code 137 (OOMKilled)" in backend.statuses([ref])[ref.id].message


def test_a_notebook_runs_once_its_pod_is_ready(backend, kube):
    ref = new_ref("lab")
    backend.submit(ref, notebook(), FLAVORS, Wiring())
    name = group_name(ref, WorkloadKind.NOTEBOOK, "notebook")

    kube.kubelet.start_statefulset(NS, name, ready=False)
    assert backend.statuses([ref])[ref.id].phase == Phase.PENDING
    kube.kubelet.start_statefulset(NS, name)
    status = backend.statuses([ref])[ref.id]

    assert status.phase == Phase.RUNNING
    assert [(r.role, r.index) for r in status.replicas] == [("notebook", 0)]


def test_a_replica_that_cannot_start_says_why(backend, kube):
    ref = new_ref("lab")
    backend.submit(ref, notebook(), FLAVORS, Wiring())
    (pod,) = kube.kubelet.start_statefulset(
        NS, group_name(ref, WorkloadKind.NOTEBOOK, "notebook"), ready=False
    )

    kube.kubelet.set_pod(NS, pod["metadata"]["name"], waiting="ImagePullBackOff")
    status = backend.statuses([ref])[ref.id]

    assert (status.phase, status.message) == (Phase.PENDING, "notebook 0: ImagePullBackOff")


def test_a_service_that_stopped_progressing_failed(backend, kube):
    ref = new_ref("iris")
    backend.submit(ref, serving(), FLAVORS, Wiring())
    deployment = kube.get("Deployment", NS, group_name(ref, WorkloadKind.SERVICE, "server"))
    stalled = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    kube.put({**deployment, "status": {"conditions": [stalled]}})

    status = backend.statuses([ref])[ref.id]

    assert status.phase == Phase.FAILED
    assert status.message == f"{deployment['metadata']['name']}: ProgressDeadlineExceeded"


def test_a_service_runs_once_its_replicas_are_ready(backend, kube):
    ref = new_ref("iris")
    backend.submit(ref, serving(), FLAVORS, Wiring())

    kube.kubelet.start_deployment(NS, group_name(ref, WorkloadKind.SERVICE, "server"))
    status = backend.statuses([ref])[ref.id]

    assert status.phase == Phase.RUNNING
    assert [(r.role, r.index) for r in status.replicas] == [("server", 0), ("server", 1)]


def test_statuses_cost_one_request_per_kind_however_many_workloads(backend, kube):
    refs = [new_ref(f"w{i}") for i in range(10)]
    for i, ref in enumerate(refs):
        backend.submit(ref, training(f"w{i}"), FLAVORS, WIRING)
        kube.kubelet.start_job(NS, job(ref, "worker"))
    backend.statuses(refs)  # the first lists each kind once
    kube.requests.clear()

    statuses = backend.statuses(refs)

    assert len(statuses) == 10
    assert kube.requests.by_verb() == {"watch": 5}


# --- logs ----------------------------------------------------------------------------------


def test_logs_of_a_replica_come_from_its_newest_pod(backend, kube):
    ref = new_ref()
    backend.submit(ref, training(), FLAVORS, WIRING)
    pods = kube.kubelet.start_job(NS, job(ref, "worker"))
    second = next(p for p in pods if p["metadata"]["name"].startswith(f"{job(ref, 'worker')}-1-"))
    kube.set_logs(NS, second["metadata"]["name"], "loading data\nepoch 1\nepoch 2")

    assert list(backend.logs(ref, "worker", 1, tail=2)) == ["epoch 1", "epoch 2"]
    assert list(backend.logs(ref, "worker", 5)) == []


def test_logs_with_timestamps_start_each_line_with_the_time_the_kubelet_got_it(backend, kube):
    ref = new_ref()
    backend.submit(ref, training(workers=1), FLAVORS, WIRING)
    [pod] = kube.kubelet.start_job(NS, job(ref, "worker"))
    kube.set_logs(NS, pod["metadata"]["name"], "epoch 1\nepoch 2")

    lines = list(backend.logs(ref, "worker", 0, tail=1, timestamps=True))

    assert backend.log_timestamps
    [(at, text)] = [line.split(" ", 1) for line in lines]
    assert text == "epoch 2"
    assert abs(datetime.fromisoformat(at) - datetime.now(UTC)) < timedelta(minutes=1)  # RFC 3339


# --- utilisation ---------------------------------------------------------------------------


def test_running_replicas_show_their_pod_metrics_where_the_cluster_serves_them(backend, kube):
    ref = new_ref()
    backend.submit(ref, training(workers=2), FLAVORS, WIRING)
    kube.kubelet.start_job(NS, job(ref, "chief"))
    workers = kube.kubelet.start_job(NS, job(ref, "worker"))
    kube.kubelet.set_pod(NS, workers[1]["metadata"]["name"], running=False)  # still pulling its image

    # Without the metrics API: the running replicas are there, not measured (None, never 0)
    assert backend.utilisation(ref) == (ReplicaUsage("chief", 0), ReplicaUsage("worker", 0))

    kube.add_api_group(*OPTIONAL_GROUPS["metrics"])
    chief = kube.objects("Pod", NS, f"{LABEL_WORKLOAD}={ref.id},mlplatform.io/role=chief")[0]
    kube.kubelet.report_metrics(
        NS,
        chief["metadata"]["name"],
        {"trainer": {"cpu": "1500m", "memory": "2Gi"}, "sidecar": {"cpu": "250000000n", "memory": "512Mi"}},
    )

    chief_usage, worker_usage = backend.utilisation(ref)

    assert chief_usage == ReplicaUsage("chief", 0, cpu_cores=1.75, memory_bytes=(2048 + 512) * 1024 * 1024)
    assert worker_usage == ReplicaUsage("worker", 0)  # no sample of its pod yet
    kube.kubelet.finish_job(NS, job(ref, "chief"))
    kube.kubelet.finish_job(NS, job(ref, "worker"))
    assert backend.utilisation(ref) == ()


# --- reliability ---------------------------------------------------------------------------


def retried(call, attempts: int = 60):
    """What a Celery task with `autoretry_for=(temporary BackendError,)` amounts to."""
    for _ in range(attempts - 1):
        try:
            return call()
        except BackendError as exc:
            if not exc.temporary:
                raise
    return call()


def test_workloads_reach_their_state_through_failing_requests_and_nothing_is_made_twice(kube):
    backend = make_backend(kube.api_client, timeout=0.1)
    kube.faults.set(error_rate=0.1, timeout_rate=0.1, delay_seconds=0.2, seed=20)
    refs = [new_ref(f"job-{i}") for i in range(20)]
    for i, ref in enumerate(refs):
        retried(lambda ref=ref, i=i: backend.submit(ref, training(f"job-{i}", workers=1), FLAVORS, WIRING))

    expected = {}
    for i, ref in enumerate(refs):
        for role in ("chief", "worker"):
            kube.kubelet.start_job(NS, job(ref, role))
        if i % 3 == 0:
            kube.kubelet.finish_job(NS, job(ref, "chief"))
            kube.kubelet.finish_job(NS, job(ref, "worker"))
        elif i % 3 == 1:
            kube.kubelet.fail_job(NS, job(ref, "worker"), exit_code=2)
        expected[ref.id] = [Phase.SUCCEEDED, Phase.FAILED, Phase.RUNNING][i % 3]
    phases = {}
    for _ in range(20):  # sync ticks
        phases = {key: status.phase for key, status in retried(lambda: backend.statuses(refs)).items()}
        if phases == expected:
            break

    assert phases == expected
    assert set(kube.created.values()) == {1}  # every create that happened, happened once
    assert len([key for key in kube.created if key[0] == "Job"]) == 40
    assert kube.faults.injected["error"] > 5
    assert kube.faults.injected["delay"] > 5


# --- a real cluster ------------------------------------------------------------------------


@pytest.mark.cluster
def test_submit_and_cancel_on_a_real_cluster(cluster_api_client):
    backend = KubernetesBackend(KubeClient(cluster_api_client))
    ref = new_ref("smoke", project=f"mlplatform-test-{uuid.uuid4().hex[:6]}")
    try:
        backend.submit(ref, training("smoke", workers=1), FLAVORS, Wiring())
        backend.submit(ref, training("smoke", workers=1), FLAVORS, Wiring())
        assert backend.statuses([ref])[ref.id].phase in (Phase.PENDING, Phase.RUNNING, Phase.FAILED)
        backend.cancel(ref)
        backend.cancel(ref)
    finally:
        backend.client.delete("Namespace", None, ref.project)
