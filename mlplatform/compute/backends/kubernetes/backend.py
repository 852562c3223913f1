"""The Kubernetes backend: workloads as the objects `manifests` builds, status from informers.

Submit creates the project's namespace, the workload's root ConfigMap, then everything else with
an owner reference to the root; every create treats "already exists" as done and every name
derives from the workload, so a retried submit makes nothing twice. Cancel deletes the root and
the cluster's garbage collector takes the rest. Status comes from the informer caches (one watch
request per kind and tick), never from a GET per workload.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from kubernetes.utils import parse_quantity

from mlplatform.compute.backends.base import (
    LABEL_ROLE,
    LABEL_WORKLOAD,
    BackendError,
    Endpoint,
    FlavorInfo,
    Phase,
    ReplicaStatus,
    ReplicaUsage,
    Stage,
    Wiring,
    WorkloadRef,
    WorkloadStatus,
)
from mlplatform.compute.backends.kubernetes import manifests, mpi
from mlplatform.compute.backends.kubernetes.client import KubeClient, in_cluster
from mlplatform.compute.backends.kubernetes.informer import MANAGED_SELECTOR, Informers
from mlplatform.compute.spec import WorkloadSpec

SERVICE_ACCESS_DNS = "cluster-dns"  # http://{service}.{namespace}.svc:{port}
SERVICE_ACCESS_API_SERVER = "api-server"  # {API server}/api/v1/namespaces/{ns}/services/{svc}:{port}/proxy
# What a workload owns, for clusters without a garbage collector (envtest, bare API servers).
OWNED_KINDS = ("Job", "StatefulSet", "Deployment", "HorizontalPodAutoscaler", "Service", "Secret", "Pod")
INDEX_LABELS = (
    "batch.kubernetes.io/job-completion-index",
    "apps.kubernetes.io/pod-index",
    "training.kubeflow.org/replica-index",  # mpi-operator's workers
)
# The kinds of integrations whose objects say how a workload goes, watched where their group is served.
STATUS_KINDS = {"mpijob": "MPIJob"}
POD_PHASES = {
    "Pending": Phase.PENDING,
    "Running": Phase.RUNNING,
    "Succeeded": Phase.SUCCEEDED,
    "Failed": Phase.FAILED,
}


class KubernetesBackend:
    name = "kubernetes"
    log_timestamps = True  # the kubelet notes when each line came

    def __init__(
        self,
        client: KubeClient,
        *,
        informers: Informers | None = None,
        garbage_collector: bool = True,
        service_access: str = SERVICE_ACCESS_DNS,
    ):
        self.client = client
        self.informers = informers or Informers.shared(client)
        self.garbage_collector = garbage_collector  # False: cancel deletes the owned objects itself
        self.service_access = service_access  # how the console reaches workloads' Services
        self._watching_integrations = False

    @classmethod
    def from_settings(cls) -> KubernetesBackend:
        """In-cluster configuration, else KUBECONFIG. Raises BackendError (permanent) without either.
        Services are reached by cluster DNS from inside the cluster, else through the API server
        (settings.KUBERNETES_SERVICE_ACCESS decides where it is not "auto")."""
        access = settings.KUBERNETES_SERVICE_ACCESS
        if access == "auto":
            access = SERVICE_ACCESS_DNS if in_cluster() else SERVICE_ACCESS_API_SERVER
        if access not in (SERVICE_ACCESS_DNS, SERVICE_ACCESS_API_SERVER):
            raise BackendError(
                f"KUBERNETES_SERVICE_ACCESS is {access!r}: use auto, "
                f"{SERVICE_ACCESS_DNS} or {SERVICE_ACCESS_API_SERVER}",
                temporary=False,
            )
        return cls(KubeClient(), service_access=access)

    # --- running

    def gpu_capacity(self) -> None:
        return None  # the nodes decide; what no node has waits, and says so, at scheduling

    def integrations(self) -> dict[str, bool]:
        return self.client.detect_integrations()

    def submit(
        self, ref: WorkloadRef, spec: WorkloadSpec, flavors: Mapping[str, FlavorInfo], wiring: Wiring
    ) -> None:
        """Create what the workload needs; what exists already is kept. Raises BackendError:
        permanent for a spec the builders refuse or the API server rejects, else temporary."""
        gang = _Gang(mpi.generate_ssh_keys(), self.integrations()) if spec.mpi else None
        if gang and gang.integrations.get("mpijob"):
            self.informers.watch("MPIJob")  # the operator's status says how the gang goes
        _build(
            ref, spec, flavors, wiring, owner=None, gang=gang
        )  # refuse a bad spec before creating anything
        self.client.create(manifests.namespace(ref.project))
        root = self.client.create(manifests.root(ref, spec))
        for obj in _build(ref, spec, flavors, wiring, owner=manifests.owner_reference(root), gang=gang):
            self.client.create(obj)

    def cancel(self, ref: WorkloadRef) -> None:
        """Delete the root; the garbage collector removes what it owns (pods get their grace period)."""
        self._remove(ref.project, ref.key, ref.id)

    def _remove(self, namespace: str, root: str, workload_id: str) -> None:
        self.client.delete("ConfigMap", namespace, root)
        if not self.garbage_collector:
            for kind in OWNED_KINDS:
                self.client.delete_collection(kind, namespace, f"{LABEL_WORKLOAD}={workload_id}")

    def delete_volumes(self, project: str, name: str) -> None:
        """Delete the claims labelled as the volumes of `name` in the project's namespace."""
        self.client.delete_collection(
            "PersistentVolumeClaim", project, f"{MANAGED_SELECTOR},{manifests.LABEL_VOLUME_OF}={name}"
        )

    def collect_garbage(self, keep: set[str]) -> list[str]:
        """Cancel every workload whose root is ours but whose id is not in `keep`; returns their
        "project/key"."""
        self.informers["ConfigMap"].sync_once()
        removed = []
        for root in self.informers["ConfigMap"].objects():
            meta = root["metadata"]
            workload = (meta.get("labels") or {}).get(LABEL_WORKLOAD)
            if meta.get("ownerReferences"):
                continue  # an object of a workload (an MPI job's hostfile), not its root
            if workload and workload not in keep:
                self._remove(meta["namespace"], meta["name"], workload)
                removed.append(f"{meta['namespace']}/{meta['name']}")
        return removed

    # --- reading

    def sync(self) -> None:
        """Bring the informer caches up to date (one request per kind once they have listed); the
        first time, also watch the served integrations' kinds (STATUS_KINDS)."""
        if not self._watching_integrations:
            for name, served in self.integrations().items():
                if served and name in STATUS_KINDS:
                    self.informers.watch(STATUS_KINDS[name])
            self._watching_integrations = True
        self.informers.sync_once()

    def statuses(self, refs: Iterable[WorkloadRef]) -> dict[str, WorkloadStatus]:
        """Syncs the informers, then derives each status from their caches alone. Raises a
        temporary BackendError when the API could not be read (a stale cache would say MISSING
        for workloads created since)."""
        self.sync()
        return {ref.id: self._status(ref) for ref in refs}

    def logs(
        self,
        ref: WorkloadRef,
        role: str,
        index: int,
        *,
        tail: int | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> Iterator[str]:
        """The log of the replica's newest pod; nothing when it has no pod (yet)."""
        self.informers["Pod"].sync_once()
        pod = _replicas(self._replica_pods(ref)).get((role, index))
        if pod is None:
            return iter(())
        name = pod["metadata"]["name"]
        return self.client.pod_logs(ref.project, name, tail_lines=tail, follow=follow, timestamps=timestamps)

    def endpoint(self, ref: WorkloadRef, role: str, port: int) -> Endpoint:
        """The workload's Service: by its cluster DNS name from a console in the cluster, else
        through the API server's service proxy."""
        service = manifests.service_name(ref)
        if self.service_access == SERVICE_ACCESS_API_SERVER:
            return self.client.service_proxy(ref.project, service, port)
        return Endpoint(f"http://{service}.{ref.project}.svc:{port}")

    def utilisation(self, ref: WorkloadRef) -> tuple[ReplicaUsage, ...]:
        """CPU and memory (working set) of each running replica from the metrics API
        (metrics.k8s.io) where the cluster serves it, else not measured; GPUs are not measured (the
        metrics API has none). One list request for the workload's PodMetrics."""
        self.informers["Pod"].sync_once()
        running = {
            key: pod["metadata"]["name"]
            for key, pod in _replicas(self._replica_pods(ref)).items()
            if (pod.get("status") or {}).get("phase") == "Running"
        }
        metrics: dict[str, dict] = {}
        if running and self.integrations().get("metrics"):
            items, _ = self.client.list_objects(
                "PodMetrics", namespace=ref.project, selector=f"{LABEL_WORKLOAD}={ref.id}"
            )
            metrics = {item["metadata"]["name"]: item for item in items}
        return tuple(_usage(role, index, metrics.get(pod)) for (role, index), pod in running.items())

    # --- status from the caches

    def _status(self, ref: WorkloadRef) -> WorkloadStatus:
        if self.informers["ConfigMap"].get(ref.project, ref.key) is None:
            return WorkloadStatus(phase=Phase.MISSING)
        jobs = self._of_run("Job", ref)
        controllers = jobs + self._of_run("StatefulSet", ref) + self._of_run("Deployment", ref)
        by_replica = _replicas(self._replica_pods(ref))
        pods = list(by_replica.values())
        replicas = tuple(_replica(role, index, pod) for (role, index), pod in by_replica.items())
        mpi_job = next(iter(self._of_run("MPIJob", ref)), None) if "MPIJob" in self.informers else None
        if mpi_job is not None:
            return _mpi_job_status(mpi_job, by_replica)
        started, finished = _times(jobs, pods)
        failed = next((job for job in jobs if _condition(job, "Failed")), None)
        if failed is not None:
            return WorkloadStatus(Phase.FAILED, replicas, _failure(failed, by_replica), started, finished)
        if jobs and all(_condition(job, "Complete") for job in jobs):
            return WorkloadStatus(Phase.SUCCEEDED, replicas, "every replica succeeded", started, finished)
        stalled = _stalled(controllers)
        if stalled:
            return WorkloadStatus(Phase.FAILED, replicas, stalled, started, finished)
        expected = sum(_expected_replicas(obj) for obj in controllers)
        runs = [r for r in replicas if r.phase in (Phase.RUNNING, Phase.SUCCEEDED)]
        ready = all(_ready(obj) for obj in controllers if obj["kind"] != "Job")
        if controllers and len(runs) >= expected and ready and any(r.phase == Phase.RUNNING for r in runs):
            return WorkloadStatus(Phase.RUNNING, replicas, "", started)
        waiting = next((r for r in replicas if r.phase != Phase.RUNNING and r.message), None)
        message = f"{waiting.role} {waiting.index}: {waiting.message}" if waiting else ""
        return WorkloadStatus(Phase.PENDING, replicas, message, started)

    def _replica_pods(self, ref: WorkloadRef) -> list[dict]:
        return [pod for pod in self._of_run("Pod", ref) if _role(pod)]

    def _of_run(self, kind: str, ref: WorkloadRef) -> list[dict]:
        """The cached objects of this run of the workload (an evicted run's may still be going)."""
        return [obj for obj in self.informers[kind].of_workload(ref.id) if manifests.of_generation(obj, ref)]


@dataclass(frozen=True)
class _Gang:
    """What an MPI workload's objects need beyond its spec: a key pair and the cluster's integrations."""

    keys: mpi.SshKeys
    integrations: dict[str, bool]


def _build(ref, spec, flavors, wiring, *, owner: dict | None, gang: _Gang | None = None) -> list[dict]:
    """The Secret (if any) and the workload's objects; a spec the builders refuse is permanent."""
    try:
        secret = manifests.secret(ref, wiring, owner)
        if gang is not None:
            objects = mpi.mpi_objects(
                ref, spec, flavors, wiring, owner, keys=gang.keys, integrations=gang.integrations
            )
        else:
            objects = manifests.workload_objects(ref, spec, flavors, wiring, owner)
        return ([secret] if secret else []) + objects
    except ValueError as exc:
        raise BackendError(str(exc), temporary=False) from exc


def _role(pod: dict) -> str:
    return (pod["metadata"].get("labels") or {}).get(LABEL_ROLE, "")


def _index(pod: dict) -> int | None:
    """A Job's completion index or a StatefulSet's ordinal; None for a Deployment's pods."""
    labels = pod["metadata"].get("labels") or {}
    for label in INDEX_LABELS:
        if labels.get(label, "").isdigit():
            return int(labels[label])
    ordinal = labels.get("statefulset.kubernetes.io/pod-name", "").rpartition("-")[2]
    return int(ordinal) if ordinal.isdigit() else None


def _replicas(pods: list[dict]) -> dict[tuple[str, int], dict]:
    """The pod of each replica by (role, index), in order: the newest where a Job's retries left
    several; a Deployment's pods, which have no index, numbered by name."""
    newest: dict[tuple[str, int], dict] = {}
    unindexed: dict[str, list[dict]] = {}
    for pod in pods:
        index = _index(pod)
        if index is None:
            unindexed.setdefault(_role(pod), []).append(pod)
        elif (_role(pod), index) not in newest or _age_key(pod) > _age_key(newest[(_role(pod), index)]):
            newest[(_role(pod), index)] = pod
    for role, group in unindexed.items():
        for index, pod in enumerate(sorted(group, key=lambda p: p["metadata"]["name"])):
            newest[(role, index)] = pod
    return dict(sorted(newest.items()))


def _age_key(pod: dict) -> tuple[str, bool, str]:
    """Newer pods last; within a second (the timestamps' resolution), a failed pod before its retry."""
    failed = (pod.get("status") or {}).get("phase") == "Failed"
    return (pod["metadata"].get("creationTimestamp", ""), not failed, pod["metadata"]["name"])


def _replica(role: str, index: int, pod: dict) -> ReplicaStatus:
    status = pod.get("status") or {}
    phase = POD_PHASES.get(status.get("phase", "Pending"), Phase.PENDING)
    containers = status.get("containerStatuses") or []
    state = containers[0].get("state", {}) if containers else {}
    restarts = sum(c.get("restartCount", 0) for c in containers)
    exit_code = None
    message = ""
    stage = None
    if "terminated" in state:
        exit_code = state["terminated"].get("exitCode")
        reason = state["terminated"].get("reason", "")
        message = f"exit code {exit_code}" + (f" ({reason})" if reason and reason != "Completed" else "")
    elif "waiting" in state:
        waiting = state["waiting"]
        message = ": ".join(part for part in (waiting.get("reason"), waiting.get("message")) if part)
        stage = Stage.STARTING if waiting.get("reason") == "CrashLoopBackOff" else Stage.PULLING
    elif phase == Phase.PENDING:
        unscheduled = _condition(pod, "PodScheduled", "False") or {}
        message = unscheduled.get("message") or unscheduled.get("reason", "")
        scheduled = bool((pod.get("spec") or {}).get("nodeName")) or _condition(pod, "PodScheduled")
        stage = Stage.PULLING if scheduled else Stage.SCHEDULING
    elif phase == Phase.RUNNING:
        ready = bool(containers) and containers[0].get("ready")
        message = "" if ready else "not ready"
        stage = Stage.READY if ready else Stage.STARTING
    return ReplicaStatus(role, index, phase, exit_code, restarts, message, stage, _address(pod))


def _usage(role: str, index: int, metrics: dict | None) -> ReplicaUsage:
    """A replica's usage from its PodMetrics (its containers' together); None where there is none
    (no metrics API, or no sample of this pod yet)."""
    if metrics is None:
        return ReplicaUsage(role, index)
    usages = [container.get("usage") or {} for container in metrics.get("containers") or ()]
    cpu = sum(parse_quantity(usage.get("cpu", "0")) for usage in usages)
    memory = sum(parse_quantity(usage.get("memory", "0")) for usage in usages)
    return ReplicaUsage(role, index, cpu_cores=round(float(cpu), 3), memory_bytes=int(memory))


def _address(pod: dict) -> str:
    """The pod's DNS name under its workload's headless Service and its first port, as
    MLPLATFORM_CLUSTER names batch replicas; "" for pods without a subdomain (services, notebooks:
    their peers use the Service)."""
    spec = pod.get("spec") or {}
    if not spec.get("subdomain"):
        return ""
    ports = (spec.get("containers") or [{}])[0].get("ports") or [{}]
    port = ports[0].get("containerPort", manifests.DEFAULT_PORT)
    return f"{spec.get('hostname') or pod['metadata']['name']}.{spec['subdomain']}:{port}"


def _failure(job: dict, by_replica: dict[tuple[str, int], dict]) -> str:
    """Which replica failed and why, in one line: the failed pod of the job, its exit code and the
    job's reason (BackoffLimitExceeded, PodFailurePolicy, DeadlineExceeded, ...)."""
    condition = _condition(job, "Failed")
    why = f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".rstrip(": ")
    uid = job["metadata"]["uid"]
    for (role, index), pod in by_replica.items():
        owners = {ref.get("uid") for ref in pod["metadata"].get("ownerReferences") or []}
        if uid in owners and (pod.get("status") or {}).get("phase") == "Failed":
            replica = _replica(role, index, pod)
            return f"{role} {index} (pod {pod['metadata']['name']}) failed with {replica.message} ({why})"
    return f"{job['metadata']['name']} failed ({why})"


def _mpi_job_status(job: dict, by_replica: dict[tuple[str, int], dict]) -> WorkloadStatus:
    """An MPIJob's state from the operator's conditions (Created, Running, Restarting, Succeeded,
    Failed, Suspended), its replicas from the pods it made from our templates (our labels kept)."""
    replicas = tuple(_replica(role, index, pod) for (role, index), pod in by_replica.items())
    status = job.get("status") or {}
    started = _parse_time(status.get("startTime"))
    failed = _condition(job, "Failed")
    if failed is not None:
        ended = _parse_time(status.get("completionTime") or failed.get("lastTransitionTime"))
        return WorkloadStatus(Phase.FAILED, replicas, _mpi_failure(failed, replicas), started, ended)
    if _condition(job, "Succeeded") is not None:
        ended = _parse_time(status.get("completionTime"))
        return WorkloadStatus(Phase.SUCCEEDED, replicas, "the launcher succeeded", started, ended)
    if _condition(job, "Running") is not None and _condition(job, "Restarting") is None:
        return WorkloadStatus(Phase.RUNNING, replicas, "", started)
    latest = max(
        (c for c in status.get("conditions") or [] if c.get("status") == "True"),
        key=lambda c: c.get("lastTransitionTime", ""),
        default={},
    )
    waiting = next((r for r in replicas if r.phase != Phase.RUNNING and r.message), None)
    message = f"{waiting.role} {waiting.index}: {waiting.message}" if waiting else latest.get("message", "")
    return WorkloadStatus(Phase.PENDING, replicas, message, started)


def _mpi_failure(condition: dict, replicas: tuple[ReplicaStatus, ...]) -> str:
    """The operator's reason and message, after the failed replica (the launcher first) and why."""
    why = f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".rstrip(": ")
    failed = sorted((r for r in replicas if r.phase == Phase.FAILED), key=lambda r: r.role != "launcher")
    if failed:
        return f"{failed[0].role} {failed[0].index} failed with {failed[0].message} ({why})"
    return f"the MPIJob failed ({why})"


def _stalled(controllers: list[dict]) -> str:
    """Why a Deployment stopped progressing (ProgressDeadlineExceeded), or ""."""
    for obj in controllers:
        condition = _condition(obj, "Progressing", "False")
        if condition:
            return ": ".join(
                filter(None, (obj["metadata"]["name"], condition.get("reason"), condition.get("message")))
            )
    return ""


def _condition(obj: dict, kind: str, status: str = "True") -> dict | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == status:
            return condition
    return None


def _expected_replicas(obj: dict) -> int:
    spec = obj.get("spec") or {}
    if obj["kind"] == "Job":
        return spec.get("completions") or spec.get("parallelism") or 1
    return spec.get("replicas", 1)


def _ready(obj: dict) -> bool:
    """A StatefulSet or Deployment whose replicas are all ready."""
    return (obj.get("status") or {}).get("readyReplicas", 0) >= _expected_replicas(obj)


def _times(jobs: list[dict], pods: list[dict]) -> tuple[datetime | None, datetime | None]:
    """(started: the earliest Job or pod start, finished: the latest Job completion or failure)."""
    starts = [(job.get("status") or {}).get("startTime") for job in jobs]
    starts += [(pod.get("status") or {}).get("startTime") for pod in pods]
    ends = [(job.get("status") or {}).get("completionTime") for job in jobs]
    ends += [(_condition(job, "Failed") or {}).get("lastTransitionTime") for job in jobs]
    started = min(filter(None, starts), default=None)
    finished = max(filter(None, ends), default=None)
    return _parse_time(started), _parse_time(finished)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
