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

from mlplatform.compute.spec import WorkloadSpec

MANAGED_BY = "mlplatform"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_WORKLOAD = "mlplatform.io/workload"
LABEL_PROJECT = "mlplatform.io/project"
LABEL_ROLE = "mlplatform.io/role"


@dataclass(frozen=True)
class WorkloadRef:
    """Names a workload on a backend. `key` is stable for the workload's life and unique in its
    project: the base of every object or folder name the backend makes for it."""

    id: str  # the Workload row's UUID as 32 hex digits
    project: str  # the project's slug: the Kubernetes namespace
    name: str  # the spec's name, a DNS-1123 label

    @property
    def key(self) -> str:
        return f"{self.name[:40]}-{self.id[:8]}"


@dataclass(frozen=True)
class FlavorInfo:
    """What a backend needs to know about a flavor (a quotas.Flavor row)."""

    name: str
    resource_name: str = ""  # e.g. "nvidia.com/gpu"; empty for CPU-only flavors
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping, ...] = ()


@dataclass(frozen=True)
class Wiring:
    """Storage access for the replicas (see mlplatform.storage.wiring.StorageWiring): `env` may be
    written anywhere; `secret_env` and `files` only into a Secret or a private folder."""

    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    files_dir: str = "/var/run/mlplatform/storage"


class Phase(enum.StrEnum):
    PENDING = "pending"  # objects or processes exist, nothing runs yet (scheduling, pulling)
    RUNNING = "running"  # every replica runs (a service: is ready)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSING = "missing"  # the backend has nothing for this workload


@dataclass(frozen=True)
class ReplicaStatus:
    role: str
    index: int
    phase: Phase
    exit_code: int | None = None
    restarts: int = 0
    message: str = ""  # plain words: "pulling image", "exit code 3", "OOMKilled"


@dataclass(frozen=True)
class WorkloadStatus:
    phase: Phase
    replicas: tuple[ReplicaStatus, ...] = ()
    message: str = ""  # for FAILED: which replica, why, in one line
    started_at: datetime | None = None
    finished_at: datetime | None = None


class BackendError(Exception):
    """`temporary` errors are retried by the caller (a task retry); permanent ones fail the workload."""

    def __init__(self, message: str, *, temporary: bool):
        super().__init__(message)
        self.temporary = temporary


class Backend(Protocol):
    name: str

    def submit(
        self, ref: WorkloadRef, spec: WorkloadSpec, flavors: Mapping[str, FlavorInfo], wiring: Wiring
    ) -> None: ...

    def cancel(self, ref: WorkloadRef) -> None:
        """Stop and remove everything of the workload (grace period, then force). Gone is done."""

    def statuses(self, refs: Iterable[WorkloadRef]) -> dict[str, WorkloadStatus]:
        """Status of many workloads at once, keyed by WorkloadRef.id, from a cache or one scan:
        never one request per workload."""

    def logs(
        self, ref: WorkloadRef, role: str, index: int, *, tail: int | None = None, follow: bool = False
    ) -> Iterator[str]:
        """Log lines of one replica; with `follow`, goes on until the replica ends."""

    def endpoint(self, ref: WorkloadRef, role: str, port: int) -> str | None:
        """A base URL (http://host:port) the console can reach the replica's port at, or None."""

    def integrations(self) -> dict[str, bool]:
        """Optional integrations the backend can see (Kueue, JobSet, Kubeflow training, KServe)."""

    def delete_volumes(self, project: str, name: str) -> None:
        """Remove the persistent volumes of the workloads named `name` (a deleted notebook)."""

    def collect_garbage(self, keep: set[str]) -> list[str]:
        """Remove everything labelled as ours whose workload id is not in `keep`; returns what went."""
