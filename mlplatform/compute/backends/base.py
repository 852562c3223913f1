"""The interface every backend implements, and the plain values that cross it.

No Django here: the compute services hand a backend a `WorkloadRef`, the `WorkloadSpec`, the
flavors it names and the storage wiring; the backend answers with `WorkloadStatus` values.
Every method is idempotent: submitting twice makes nothing twice, cancelling something gone
is done, and a status for a workload the backend never saw says so (`Phase.MISSING`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from mlplatform.compute.spec import WorkloadSpec
from mlplatform.storage.access import Wiring  # storage's: what backends take to reach buckets

MANAGED_BY = "mlplatform"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_WORKLOAD = "mlplatform.io/workload"
LABEL_PROJECT = "mlplatform.io/project"
LABEL_ROLE = "mlplatform.io/role"
LABEL_GENERATION = "mlplatform.io/generation"  # set from the first eviction on


@dataclass(frozen=True)
class WorkloadRef:
    """Names a workload on a backend. `key` is unique in its project and stable for one run of
    the workload (its `generation`: how often it was evicted): the base of every object or folder
    name the backend makes for it, so what an evicted run left behind is never taken for the next."""

    id: str  # the Workload row's UUID as 32 hex digits
    project: str  # the project's slug: the Kubernetes namespace
    name: str  # the spec's name, a DNS-1123 label
    generation: int = 0

    @property
    def key(self) -> str:
        base = f"{self.name[:40]}-{self.id[:8]}"
        return f"{base}-g{self.generation}" if self.generation else base


@dataclass(frozen=True)
class FlavorInfo:
    """What a backend needs to know about a flavor (a quotas.Flavor row)."""

    name: str
    resource_name: str = ""  # e.g. "nvidia.com/gpu"; empty for CPU-only flavors
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """Where the console reaches one port of a replica: `url`, a base to append a path to.

    Straight to the replica (a loopback port, a cluster Service) that is all. Through the
    Kubernetes API server's service proxy (`via_api_server`) requests also carry the cluster's
    credentials (`headers`, TLS files), the API server consumes the `Authorization` header, and it
    prefixes absolute links in HTML and redirects with the proxy's path (`link_prefix`)."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    via_api_server: bool = False
    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @property
    def link_prefix(self) -> str:
        return urlsplit(self.url).path if self.via_api_server else ""

    @property
    def tls(self) -> tuple[bool, str | None, str | None, str | None]:
        """(verify, CA file, client certificate, client key): what an HTTP client needs beyond the URL."""
        return self.verify, self.ca_file, self.cert_file, self.key_file


class Phase(enum.StrEnum):
    PENDING = "pending"  # objects or processes exist, nothing runs yet (scheduling, pulling)
    RUNNING = "running"  # every replica runs (a service: is ready)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSING = "missing"  # the backend has nothing for this workload


class Stage(enum.StrEnum):
    """How far a replica got on its way to running, for progress shown to people."""

    SCHEDULING = "scheduling"  # waiting for a node
    PULLING = "pulling"  # on a node: its image is being pulled, its container created
    STARTING = "starting"  # its process runs, not ready yet
    READY = "ready"


@dataclass(frozen=True)
class ReplicaStatus:
    role: str
    index: int
    phase: Phase
    exit_code: int | None = None
    restarts: int = 0
    message: str = ""  # plain words: "pulling image", "exit code 3", "OOMKilled"
    stage: Stage | None = None  # how far a replica that has not ended got; None: not known
    address: str = ""  # host:port its peers reach it at (as in MLPLATFORM_CLUSTER), once known


@dataclass(frozen=True)
class WorkloadStatus:
    phase: Phase
    replicas: tuple[ReplicaStatus, ...] = ()
    message: str = ""  # for FAILED: which replica, why, in one line
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ReplicaUsage:
    """What one running replica uses now. None: not measured here (no metrics API, no nvidia-smi),
    which is not the same as 0."""

    role: str
    index: int
    cpu_cores: float | None = None  # cores busy, averaged over a short window
    memory_bytes: int | None = None  # resident memory of its processes (a pod's working set)
    gpu_percent: float | None = None  # utilisation of its GPUs, averaged over them
    gpu_memory_bytes: int | None = None


class BackendError(Exception):
    """`temporary` errors are retried by the caller (a task retry); permanent ones fail the workload."""

    def __init__(self, message: str, *, temporary: bool):
        super().__init__(message)
        self.temporary = temporary


class Backend(Protocol):
    name: str
    log_timestamps: bool  # whether logs(timestamps=True) can say when each line was written

    def submit(
        self, ref: WorkloadRef, spec: WorkloadSpec, flavors: Mapping[str, FlavorInfo], wiring: Wiring
    ) -> None: ...

    def cancel(self, ref: WorkloadRef) -> None:
        """Stop and remove everything of the workload (grace period, then force). Gone is done."""

    def statuses(self, refs: Iterable[WorkloadRef]) -> dict[str, WorkloadStatus]:
        """Status of many workloads at once, keyed by WorkloadRef.id, from a cache or one scan:
        never one request per workload."""

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
        """Log lines of one replica; with `follow`, goes on until the replica ends. With
        `timestamps` (where `log_timestamps`), each line starts with the RFC 3339 time it was
        written and a space, as `kubectl logs --timestamps` shows it."""

    def endpoint(self, ref: WorkloadRef, role: str, port: int) -> Endpoint | None:
        """Where the console can reach the port of the group's first replica, or None."""

    def utilisation(self, ref: WorkloadRef) -> tuple[ReplicaUsage, ...]:
        """CPU, memory and (where known) GPU use of each running replica, now; nothing for a
        workload with none running. Takes a moment (CPU is measured over a window): call it
        outside transactions."""

    def integrations(self) -> dict[str, bool]:
        """Optional integrations the backend can see (Kueue, JobSet, Kubeflow training, KServe)."""

    def gpu_capacity(self) -> int | None:
        """The most GPUs a workload can have here; None where this is not known (a cluster's
        nodes and their device plugins decide)."""

    def delete_volumes(self, project: str, name: str) -> None:
        """Remove the persistent volumes of the workloads named `name` (a deleted notebook)."""

    def collect_garbage(self, keep: set[str]) -> list[str]:
        """Remove everything labelled as ours whose workload id is not in `keep`; returns what went."""
