"""Informers: a local cache of the platform's objects of one kind, kept by list+watch.

The first `sync_once()` lists every object labelled as ours across namespaces; each later one
drains the watch from the last resourceVersion it saw (a short stream that ends when no event
arrives for a moment), and lists again only when the server answers 410 Gone. So a periodic
status pass costs one request per kind, however many workloads run, instead of one GET per
workload. There is no long-lived thread: the Celery sync task calls `sync_once()` each tick, and
the caches live in the worker process (`Informers.shared`) from one tick to the next.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from mlplatform.compute.backends.base import LABEL_MANAGED_BY, LABEL_WORKLOAD, MANAGED_BY, BackendError
from mlplatform.compute.backends.kubernetes.client import Gone, KubeClient

MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
# What the status pass reads: roots (does the workload exist?), controllers and their pods.
WATCHED_KINDS = ("ConfigMap", "Job", "Pod", "StatefulSet", "Deployment")

ObjectKey = tuple[str, str]  # (namespace, name)


class Informer:
    """The objects of one kind matching `selector` in all namespaces, by (namespace, name), by uid
    and by workload id (the `mlplatform.io/workload` label)."""

    def __init__(
        self,
        client: KubeClient,
        kind: str,
        *,
        selector: str = MANAGED_SELECTOR,
        idle_seconds: float = 0.1,
        max_seconds: float = 10.0,
    ):
        self.client = client
        self.kind = kind
        self.selector = selector
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.resource_version: str | None = None  # None: list first
        self.lists = 0  # how many times it listed (the first time, then after each 410 Gone)
        self._objects: dict[ObjectKey, dict] = {}
        self._by_uid: dict[str, ObjectKey] = {}
        self._by_workload: dict[str, set[ObjectKey]] = defaultdict(set)
        self._lock = threading.RLock()

    def sync_once(self) -> int:
        """Bring the cache up to date: list on the first call (and after 410 Gone), else apply the
        watch events since the last resourceVersion. Returns how many events it applied (a list
        counts as one). Raises BackendError when the API fails; the cache stays as it was."""
        with self._lock:
            if self.resource_version is None:
                self._relist()
                return 1
            applied = 0
            try:
                for event in self.client.watch(
                    self.kind,
                    resource_version=self.resource_version,
                    selector=self.selector,
                    idle_seconds=self.idle_seconds,
                    max_seconds=self.max_seconds,
                ):
                    self._apply(event["type"], event["object"])
                    applied += 1
            except Gone:
                self._relist()
                applied += 1
            return applied

    def get(self, namespace: str, name: str) -> dict | None:
        with self._lock:
            return self._objects.get((namespace, name))

    def get_by_uid(self, uid: str) -> dict | None:
        with self._lock:
            key = self._by_uid.get(uid)
            return self._objects.get(key) if key else None

    def of_workload(self, workload_id: str) -> list[dict]:
        """The cached objects labelled with this workload id, by name."""
        with self._lock:
            return [self._objects[key] for key in sorted(self._by_workload.get(workload_id, ()))]

    def objects(self) -> list[dict]:
        with self._lock:
            return list(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    # --- the cache

    def _relist(self) -> None:
        items, resource_version = self.client.list_objects(self.kind, selector=self.selector)
        self._objects.clear()
        self._by_uid.clear()
        self._by_workload.clear()
        for obj in items:
            self._store(obj)
        self.resource_version = resource_version
        self.lists += 1

    def _apply(self, event_type: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self.resource_version = meta["resourceVersion"]
        if event_type in ("ADDED", "MODIFIED"):
            self._store(obj)
        elif event_type == "DELETED":
            self._forget((meta.get("namespace", ""), meta["name"]))

    def _store(self, obj: dict) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        self._forget(key)  # the uid or the workload label may have changed (deleted and made again)
        obj.setdefault("kind", self.kind)
        self._objects[key] = obj
        self._by_uid[meta["uid"]] = key
        workload = (meta.get("labels") or {}).get(LABEL_WORKLOAD)
        if workload:
            self._by_workload[workload].add(key)

    def _forget(self, key: ObjectKey) -> None:
        old = self._objects.pop(key, None)
        if old is None:
            return
        meta = old["metadata"]
        self._by_uid.pop(meta.get("uid", ""), None)
        workload = (meta.get("labels") or {}).get(LABEL_WORKLOAD)
        if workload in self._by_workload:
            self._by_workload[workload].discard(key)
            if not self._by_workload[workload]:
                del self._by_workload[workload]


class Informers:
    """One informer per watched kind, for one cluster."""

    _shared: dict[str, Informers] = {}
    _shared_lock = threading.Lock()

    def __init__(self, client: KubeClient, kinds: tuple[str, ...] = WATCHED_KINDS, **options):
        self.client = client
        self.options = options
        self.by_kind = {kind: Informer(client, kind, **options) for kind in kinds}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, client: KubeClient, **options) -> Informers:
        """The process's informers for the cluster `client` reaches, made on first use: the caches
        outlive one task and serve the next tick of the same worker."""
        with cls._shared_lock:
            if client.host not in cls._shared:
                cls._shared[client.host] = cls(client, **options)
            return cls._shared[client.host]

    def __getitem__(self, kind: str) -> Informer:
        return self.by_kind[kind]

    def __contains__(self, kind: str) -> bool:
        return kind in self.by_kind

    def watch(self, kind: str) -> Informer:
        """The informer of `kind`, made on first use: for an integration's kind (MPIJob), which
        only a cluster serving its API group can list."""
        with self._lock:
            if kind not in self.by_kind:
                self.by_kind[kind] = Informer(self.client, kind, **self.options)
            return self.by_kind[kind]

    def sync_once(self) -> int:
        """Sync every kind (see Informer.sync_once); returns the events applied in all. A kind that
        fails does not hold the others back: the first error is raised after all were tried."""
        applied, errors = 0, []
        for informer in list(self.by_kind.values()):
            try:
                applied += informer.sync_once()
            except BackendError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return applied
