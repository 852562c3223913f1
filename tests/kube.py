"""A Kubernetes API test server the official `kubernetes` client talks to over HTTP, and the pytest
plugin around it: the `kube` fixture (a fresh server per test) and the `cluster` marker.

Why a server of our own rather than kmock's KubernetesEmulator: tried first, kmock 0.8 slows down
with its request history (creating ConfigMaps: 250 in 10 s on a fresh emulator, the fifth 250 in
90 s), which rules out the 1,000-workload benchmark, and it lacks most of what the backend relies
on: uid, resourceVersion and creationTimestamp, 201 on create, PUT, label selectors, namespaces,
pod logs, watch resume and 410 Gone. Adding those meant replacing every verb's handler on top of
its private internals. This one is a threaded `http.server` on the standard library (pytest only
for the fixtures at the end; `benchmarks/` imports the server), about as big as that adapter
would have been.

What it serves: objects per (resource, namespace, name) with uid, one cluster-wide increasing
resourceVersion and creationTimestamp; create (201, 409 AlreadyExists, 404 when the namespace is
missing), get, list across namespaces with label selectors (`k=v`, `k!=v`, `k in (..)`,
`k notin (..)`, `k`, `!k`), merge patch (strategic merge treated as merge), PUT (409 Conflict on a
stale resourceVersion), delete and deletecollection (404 when missing; dependents named by
ownerReferences go too, as the garbage collector would, unless `garbage_collector` is off), the
status subresource, watch streams that resume from a resourceVersion and answer 410 Gone for
versions older than the retained window (`watch_window`, `compact()`), discovery (`/api`,
`/apis`, optional groups via `add_api_group`), pod logs (plain text, `tailLines`, `follow`), and
the services/proxy subresource to backends the test declares (`service_backend`), with the
apiserver's authentication check, Location and HTML link rewriting and WebSocket upgrades.
It counts requests per verb and path (`requests`), counts successful creates per object
(`created`), injects faults reproducibly (`faults`), and lets a test play the kubelet and the
Job, StatefulSet and Deployment controllers (`kubelet`).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import gzip
import http.client
import itertools
import json
import os
import posixpath
import random
import re
import select
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, urlsplit, urlunsplit

import pytest

WATCH_LIMIT_SECONDS = 60  # a stream nobody closes ends by itself, so no test waits on a thread
POLL_SECONDS = 0.02  # how often a stream looks for new events, a closed client or a stopped server


# --- resources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    has_status: bool = True  # a status subresource: the main resource cannot change status

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)


BUILTIN_RESOURCES = (
    ApiResource("", "v1", "namespaces", "Namespace", namespaced=False),
    ApiResource("", "v1", "configmaps", "ConfigMap", has_status=False),
    ApiResource("", "v1", "secrets", "Secret", has_status=False),
    ApiResource("", "v1", "services", "Service"),
    ApiResource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    ApiResource("", "v1", "pods", "Pod"),
    ApiResource("", "v1", "events", "Event", has_status=False),
    ApiResource("batch", "v1", "jobs", "Job"),
    ApiResource("apps", "v1", "statefulsets", "StatefulSet"),
    ApiResource("apps", "v1", "deployments", "Deployment"),
    ApiResource("apps", "v1", "replicasets", "ReplicaSet"),
    ApiResource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
)

# What the optional integrations serve, for `add_api_group(*OPTIONAL_GROUPS["kueue"])`.
OPTIONAL_GROUPS = {
    "kueue": ("kueue.x-k8s.io", "v1beta1", {"workloads": "Workload", "localqueues": "LocalQueue"}),
    "jobset": ("jobset.x-k8s.io", "v1alpha2", {"jobsets": "JobSet"}),
    "kubeflow": ("kubeflow.org", "v1", {"pytorchjobs": "PyTorchJob", "tfjobs": "TFJob"}),
    "kserve": ("serving.kserve.io", "v1beta1", {"inferenceservices": "InferenceService"}),
}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def status(self) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
        }


def _not_found(resource: ApiResource, name: str) -> ApiError:
    what = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
    return ApiError(404, "NotFound", f'{what} "{name}" not found')


# --- label selectors ---------------------------------------------------------------------------

_SET_TERM = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_KEY = re.compile(r"^[\w./-]+$")


def label_selector(text: str | None) -> Callable[[dict], bool]:
    """A predicate on a labels dict for a Kubernetes label selector string. Raises ApiError (400)."""
    requirements = [
        _requirement(term.strip()) for term in re.split(r",(?![^(]*\))", text or "") if term.strip()
    ]
    return lambda labels: all(requirement(labels or {}) for requirement in requirements)


def _requirement(term: str) -> Callable[[dict], bool]:
    if match := _SET_TERM.match(term):
        key, values = match[1], {value.strip() for value in match[3].split(",")}
        if match[2] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if "!=" in term:
        key, value = (part.strip() for part in term.split("!=", 1))
        return lambda labels: labels.get(key) != value
    if "=" in term:
        key, value = (part.strip() for part in re.split(r"==?", term, maxsplit=1))
        return lambda labels: labels.get(key) == value
    if term.startswith("!") and _KEY.match(term[1:].strip()):
        return lambda labels: term[1:].strip() not in labels
    if _KEY.match(term):
        return lambda labels: term in labels
    raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: dicts merge, None removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


# --- counters and faults -----------------------------------------------------------------------


class RequestLog:
    """Every request the server received, per (verb, path); verbs as in Kubernetes RBAC:
    get, list, watch, create, update, patch, delete, deletecollection, and "proxy" for any
    request to a service's proxy subresource."""

    def __init__(self):
        self._counts: collections.Counter = collections.Counter()
        self._last_query: dict[str, dict] = {}
        self._lock = threading.Lock()

    def record(self, verb: str, path: str, query: dict) -> None:
        with self._lock:
            self._counts[(verb, path)] += 1
            self._last_query[verb] = query

    def last_query(self, verb: str) -> dict | None:
        """The query parameters of the latest request with this verb."""
        with self._lock:
            return self._last_query.get(verb)

    def count(self, verb: str | None = None, path: str | None = None) -> int:
        """Requests with this verb (any when None) whose path starts with `path` (any when None)."""
        with self._lock:
            return sum(
                n
                for (v, p), n in self._counts.items()
                if (verb is None or v == verb) and (path is None or p.startswith(path))
            )

    def by_verb(self) -> dict[str, int]:
        with self._lock:
            totals: collections.Counter = collections.Counter()
            for (verb, _), n in self._counts.items():
                totals[verb] += n
            return dict(totals)

    @property
    def total(self) -> int:
        return self.count()

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._last_query.clear()


@dataclass
class Faults:
    """What goes wrong, drawn per request from a seeded random source (so a run repeats).

    `error_rate` of requests are answered `error_status` without being served; `timeout_rate` are
    served but answered only after `delay_seconds` (past the client's timeout: the client cannot
    tell whether its create happened); the next `conflicts` requests with a verb in
    `conflict_verbs` are answered 409 Conflict. `verbs` limits errors and delays to those verbs.
    """

    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    delay_seconds: float = 1.0
    conflicts: int = 0
    conflict_verbs: frozenset[str] = frozenset({"update", "patch"})
    verbs: frozenset[str] | None = None
    seed: int = 0
    injected: collections.Counter = field(default_factory=collections.Counter)  # what it did, by kind
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self):
        self._random = random.Random(self.seed)

    def set(self, **values) -> Faults:
        """Change settings in one go; a `seed` restarts the random source."""
        with self._lock:
            for name, value in values.items():
                setattr(self, name, value)
            self._random = random.Random(self.seed)
        return self

    def draw(self, verb: str) -> str | None:
        """'conflict', 'error', 'delay' or None for one request."""
        with self._lock:
            fault = self._draw(verb)
            if fault:
                self.injected[fault] += 1
            return fault

    def _draw(self, verb: str) -> str | None:
        if self.conflicts > 0 and verb in self.conflict_verbs:
            self.conflicts -= 1
            return "conflict"
        if self.verbs is not None and verb not in self.verbs:
            return None
        roll = self._random.random() if self.error_rate or self.timeout_rate else 1.0
        if roll < self.error_rate:
            return "error"
        if roll < self.error_rate + self.timeout_rate:
            return "delay"
        return None


def kubeconfig(path: Path, url: str) -> Path:
    """A kubeconfig file naming the server at `url`, as for any cluster."""
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: test, cluster: {{server: "{url}"}}}}]
users: [{{name: test, user: {{token: test}}}}]
contexts: [{{name: test, context: {{cluster: test, user: test}}}}]
current-context: test
"""
    )
    return path


# --- the server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    resource: ApiResource
    namespace: str  # "" for cluster-scoped objects and for lists across namespaces
    name: str
    subresource: str


class KubeApiServer:
    """The in-memory API server on 127.0.0.1 (a free port), serving until `close()`."""

    def __init__(self, *, watch_window: int = 50_000, garbage_collector: bool = True):
        self.watch_window = watch_window  # events kept for watches that resume; older: 410 Gone
        self.garbage_collector = garbage_collector
        self.requests = RequestLog()
        self.faults = Faults()
        self.created: collections.Counter = collections.Counter()  # (kind, namespace, name) -> creates
        self.kubelet = Kubelet(self)
        self._resources: dict[tuple[str, str], ApiResource] = {}
        self._versions: dict[str, str] = {}  # group -> served version
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._events: list[tuple[int, str, tuple[str, str], dict]] = []  # (rv, type, resource key, obj)
        self._compacted = 0  # the newest resourceVersion no longer in `_events`
        self._rv = 0
        self._logs: dict[tuple[str, str], list[str]] = {}
        self._backends: dict[tuple[str, str, int], str] = {}  # (namespace, service, port) -> host:port
        self._cond = threading.Condition()
        self._closed = False
        for resource in BUILTIN_RESOURCES:
            self._add_resource(resource)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(POLL_SECONDS,), name="kube-api", daemon=True
        )
        self._thread.start()
        self._api_client = None

    # --- lifecycle and client

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_client(self):
        """A `kubernetes.client.ApiClient` for this server. urllib3's own retries are off so that
        faults reach the code under test, which must retry by itself."""
        if self._api_client is None:
            from kubernetes import client

            configuration = client.Configuration(host=self.url)
            configuration.retries = 0
            self._api_client = client.ApiClient(configuration)
        return self._api_client

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._api_client is not None:
            self._api_client.close()
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> KubeApiServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what the test declares

    def add_api_group(self, group: str, version: str, kinds: dict[str, str], *, namespaced: bool = True):
        """Serve an optional API group (e.g. a CRD's), `kinds` mapping plural -> Kind."""
        for plural, kind in kinds.items():
            self._add_resource(ApiResource(group, version, plural, kind, namespaced, has_status=True))

    def _add_resource(self, resource: ApiResource) -> None:
        self._resources[resource.key] = resource
        self._versions.setdefault(resource.group, resource.version)
        self._objects.setdefault(resource.key, {})

    def compact(self) -> None:
        """Forget every event so far: a watch from an older resourceVersion gets 410 Gone."""
        with self._cond:
            self._events.clear()
            self._compacted = self._rv

    def set_logs(self, namespace: str, pod: str, text: str) -> None:
        with self._cond:
            self._logs[(namespace, pod)] = text.splitlines()
            self._cond.notify_all()

    def append_logs(self, namespace: str, pod: str, text: str) -> None:
        with self._cond:
            self._logs.setdefault((namespace, pod), []).extend(text.splitlines())
            self._cond.notify_all()

    def service_backend(self, namespace: str, service: str, port: int, address: str) -> None:
        """Declare where the Service's `port` (a number from its spec.ports) really answers, as
        "host:port": what its Endpoints and kube-proxy would give. The service proxy forwards there;
        a port with no backend answers 503, as a Service without ready pods does."""
        with self._cond:
            self._backends[(namespace, service, int(port))] = address

    # --- direct access for tests and the kubelet (no HTTP, not counted, no faults)

    def resource(self, kind: str) -> ApiResource:
        for resource in self._resources.values():
            if resource.kind == kind:
                return resource
        raise KeyError(kind)

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        resource = self.resource(kind)
        with self._cond:
            obj = self._objects[resource.key].get((namespace if resource.namespaced else "", name))
            return copy.deepcopy(obj)

    def objects(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict]:
        resource = self.resource(kind)
        with self._cond:
            return copy.deepcopy(self._select(resource, namespace or "", label_selector(selector)))

    def put(self, obj: dict) -> dict:
        """Create or replace an object as a controller would (status included); returns it stored."""
        resource = self.resource(obj["kind"])
        meta = obj["metadata"]
        with self._cond:
            current = self._objects[resource.key].get((meta.get("namespace", ""), meta["name"]))
            if current is None:
                return self._create(resource, meta.get("namespace", ""), copy.deepcopy(obj), controller=True)
            return self._replace(resource, current, copy.deepcopy(obj), part="all")

    def delete(self, kind: str, namespace: str, name: str) -> None:
        resource = self.resource(kind)
        with self._cond:
            obj = self._objects[resource.key].get((namespace, name))
            if obj is None:
                raise _not_found(resource, name)
            self._delete(resource, obj, "Background")

    # --- the store (callers hold self._cond)

    def _select(self, resource: ApiResource, namespace: str, matches: Callable[[dict], bool]) -> list[dict]:
        return [
            obj
            for (ns, _), obj in self._objects[resource.key].items()
            if (not namespace or ns == namespace) and matches(_labels(obj))
        ]

    def _commit(self, resource: ApiResource, event: str, obj: dict) -> dict:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if event == "DELETED":
            self._objects[resource.key].pop(key, None)
        else:
            self._objects[resource.key][key] = obj
        self._events.append((self._rv, event, resource.key, obj))
        excess = len(self._events) - self.watch_window
        if excess > 0:
            self._compacted = self._events[excess - 1][0]
            del self._events[:excess]
        self._cond.notify_all()
        return obj

    def _create(self, resource: ApiResource, namespace: str, obj: dict, *, controller: bool = False) -> dict:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise ApiError(422, "Invalid", f"{resource.kind}: metadata.name: Required value")
        if resource.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the object does not match the request")
            if ("", namespace) not in self._objects[("", "namespaces")]:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if (namespace, meta["name"]) in self._objects[resource.key]:
            what = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
            raise ApiError(409, "AlreadyExists", f'{what} "{meta["name"]}" already exists')
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        obj.update(apiVersion=resource.api_version, kind=resource.kind)
        if resource.has_status and not controller:
            obj.pop("status", None)  # only controllers write status
        if resource.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        self.created[(resource.kind, namespace, meta["name"])] += 1
        return self._commit(resource, "ADDED", obj)

    def _replace(self, resource: ApiResource, current: dict, obj: dict, *, part: str) -> dict:
        """Write `obj` over `current`: part 'main' keeps the status, 'status' only takes the status."""
        sent_rv = (obj.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{current["metadata"]["name"]}": '
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        if part == "status":
            new = copy.deepcopy(current)
            new["status"] = obj.get("status")
        else:
            new = obj
            kept = {k: current["metadata"][k] for k in ("uid", "creationTimestamp", "namespace", "name")}
            new.setdefault("metadata", {}).update(kept)
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + (part == "main")
            if part == "main" and resource.has_status:
                new.pop("status", None)
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
            if current["metadata"].get("deletionTimestamp"):
                new["metadata"]["deletionTimestamp"] = current["metadata"]["deletionTimestamp"]
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._delete(resource, new, "Background")
        return self._commit(resource, "MODIFIED", new)

    def _delete(self, resource: ApiResource, obj: dict, propagation: str) -> dict:
        meta = obj["metadata"]
        stored = self._objects[resource.key].get((meta.get("namespace", ""), meta["name"]))
        if stored is None or stored["metadata"]["uid"] != meta["uid"]:
            return obj  # already gone: a cascade reached it first
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return obj
            marked = copy.deepcopy(obj)
            marked["metadata"]["deletionTimestamp"] = _now()
            return self._commit(resource, "MODIFIED", marked)
        gone = self._commit(resource, "DELETED", copy.deepcopy(obj))
        if resource.kind == "Namespace":
            for other in self._resources.values():
                if other.namespaced:
                    for child in self._select(other, meta["name"], lambda _: True):
                        self._delete(other, child, propagation)
        elif self.garbage_collector:
            self._collect_dependents(meta["uid"], propagation)
        return gone

    def _collect_dependents(self, uid: str, propagation: str) -> None:
        for resource in list(self._resources.values()):
            for child in list(self._objects[resource.key].values()):
                refs = child["metadata"].get("ownerReferences") or []
                if not any(ref.get("uid") == uid for ref in refs):
                    continue
                if propagation == "Orphan":
                    orphan = copy.deepcopy(child)
                    orphan["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid] or None
                    self._commit(resource, "MODIFIED", orphan)
                else:
                    self._delete(resource, child, propagation)

    # --- HTTP: routing

    def route(self, path: str) -> _Target | None:
        """The resource a path names, or None for discovery paths."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, rest = parts[1], parts[3:]
        else:
            return None
        if not rest:
            return None
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        resource = self._resources.get((group, rest[0]))
        if resource is None or len(rest) > 3 or rest[2:] not in ([], ["status"], ["log"]):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _Target(
            resource, namespace, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""
        )

    def service_address(self, namespace: str, name: str) -> str:
        """The backend "host:port" for a proxy path's `svc`, `svc:port` or `scheme:svc:port`, resolved
        as the apiserver does: a port number through the Service's spec.ports to that port's name, then
        the name (none for an unnamed port) matched against the Endpoints' port names. Raises ApiError:
        400 for a malformed name, 404 when the Service is missing (the apiserver reads the Service only
        for a port number, the Endpoints otherwise, hence two messages), 503 when nothing answers."""
        service, port = _service_and_port(name)
        with self._cond:
            obj = self._objects[("", "services")].get((namespace, service))
            backends = {
                p: at for (ns, svc, p), at in self._backends.items() if (ns, svc) == (namespace, service)
            }
        if obj is None:
            what = "services" if port.isdigit() else "endpoints"
            raise ApiError(404, "NotFound", f'{what} "{service}" not found')
        ports = (obj.get("spec") or {}).get("ports") or []
        if port.isdigit():
            numbered = [spec for spec in ports if spec.get("port") == int(port)]
            if not numbered:
                raise _unavailable(f'no service port {port} found for service "{service}"')
            port = numbered[0].get("name", "")
        if not backends:
            raise _unavailable(f'no endpoints available for service "{service}"')
        for spec in ports:
            if spec.get("name", "") == port and spec.get("port") in backends:
                return backends[spec["port"]]
        raise _unavailable(f'no endpoints available for service "{name}"')

    def discovery(self, path: str) -> dict:
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return {"major": "1", "minor": "33", "gitVersion": "v1.33.0-mlplatform-test"}
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"]}
        if parts == ["apis"]:
            groups = [self._group(g) for g in self._versions if g]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in self._versions:
            return {"kind": "APIGroup", "apiVersion": "v1", **self._group(parts[1])}
        group = "" if parts == ["api", "v1"] else parts[1] if len(parts) == 3 and parts[0] == "apis" else None
        if group is not None and self._versions.get(group) == parts[-1]:
            resources = [
                {"name": r.plural, "kind": r.kind, "namespaced": r.namespaced, "verbs": list(_VERBS)}
                for r in self._resources.values()
                if r.group == group
            ]
            version = self._versions[group]
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources,
            }
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _group(self, group: str) -> dict:
        version = {"groupVersion": f"{group}/{self._versions[group]}", "version": self._versions[group]}
        return {"name": group, "versions": [version], "preferredVersion": version}

    # --- HTTP: verbs

    def serve(self, method: str, target: _Target, query: dict, body) -> tuple[int, dict]:
        resource, namespace, name, sub = target.resource, target.namespace, target.name, target.subresource
        with self._cond:
            if method == "POST" and not name:
                return 201, self._create(resource, namespace, body)
            if method == "GET" and not name:
                items = self._select(resource, namespace, label_selector(query.get("labelSelector")))
                return 200, {
                    "kind": f"{resource.kind}List",
                    "apiVersion": resource.api_version,
                    "metadata": {"resourceVersion": str(self._rv)},
                    "items": items,
                }
            if method == "DELETE" and not name:
                propagation = _propagation(query, body)
                items = self._select(resource, namespace, label_selector(query.get("labelSelector")))
                gone = [self._delete(resource, obj, propagation) for obj in items]
                return 200, {
                    "kind": f"{resource.kind}List",
                    "apiVersion": resource.api_version,
                    "items": gone,
                }
            current = self._objects[resource.key].get((namespace, name))
            if current is None:
                raise _not_found(resource, name)
            if method == "GET":
                return 200, current
            if method == "DELETE":
                return 200, self._delete(resource, current, _propagation(query, body))
            part = "status" if sub == "status" else "main"
            if method == "PUT":
                return 200, self._replace(resource, current, body, part=part)
            if method == "PATCH":
                if not isinstance(body, dict):
                    raise ApiError(415, "UnsupportedMediaType", "only merge patches are served here")
                patched = merge_patch(copy.deepcopy(current), body)
                patched["metadata"].pop("resourceVersion", None)
                if "resourceVersion" in (body.get("metadata") or {}):
                    patched["metadata"]["resourceVersion"] = body["metadata"]["resourceVersion"]
                return 200, self._replace(resource, current, patched, part=part)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    def watch(self, target: _Target, query: dict, is_gone: Callable[[], bool]) -> Iterator[dict]:
        """Watch events for a stream: from `resourceVersion` on (or ADDED for everything first),
        until `timeoutSeconds`, the client leaves (`is_gone`) or the server stops."""
        resource, namespace = target.resource, target.namespace
        matches = label_selector(query.get("labelSelector"))
        wanted = query.get("fieldSelector", "")
        name = wanted.removeprefix("metadata.name=") if wanted.startswith("metadata.name=") else ""
        timeout = min(float(query.get("timeoutSeconds") or WATCH_LIMIT_SECONDS), WATCH_LIMIT_SECONDS)
        deadline = time.monotonic() + timeout
        since = query.get("resourceVersion") or "0"
        with self._cond:
            if since == "0":
                cursor = self._rv
                backlog = [
                    {"type": "ADDED", "object": copy.deepcopy(obj)}
                    for obj in self._select(resource, namespace, matches)
                    if not name or obj["metadata"]["name"] == name
                ]
            else:
                cursor, backlog = int(since), []
        yield from backlog
        wanted = (resource.key, namespace, name, matches)
        while not is_gone():
            with self._cond:
                expired = cursor < self._compacted  # the window moved past this watcher: it must list again
                ended = self._closed or time.monotonic() >= deadline
                first = self._events[0][0] if self._events else self._rv + 1
                fresh = [] if expired or ended else self._events[max(0, cursor + 1 - first) :]
                if not (expired or ended or fresh):
                    self._cond.wait(POLL_SECONDS)
                    continue
                events = [_event(kind, obj) for _, kind, key, obj in fresh if _wanted(key, obj, *wanted)]
                cursor = fresh[-1][0] if fresh else cursor
            if expired:
                yield {"type": "ERROR", "object": _gone(cursor).status()}
                return
            if ended:
                break
            yield from events
        if query.get("allowWatchBookmarks") in ("true", "1"):
            yield {
                "type": "BOOKMARK",
                "object": {
                    "kind": resource.kind,
                    "apiVersion": resource.api_version,
                    "metadata": {"resourceVersion": str(cursor)},
                },
            }

    def logs(self, target: _Target, query: dict, is_gone: Callable[[], bool]) -> tuple[list[str], Iterator]:
        """The pod's log lines so far (the last `tailLines`), and with `follow` what comes after,
        until the pod ends or goes."""
        namespace, pod = target.namespace, target.name
        with self._cond:
            if (namespace, pod) not in self._objects[("", "pods")]:
                raise _not_found(target.resource, pod)
            lines = list(self._logs.get((namespace, pod), []))
        shown = lines[-int(query["tailLines"]) :] if query.get("tailLines") else lines
        if query.get("follow") not in ("true", "1"):
            return shown, iter(())
        return shown, self._follow(namespace, pod, len(lines), is_gone)

    def _follow(self, namespace: str, pod: str, cursor: int, is_gone) -> Iterator[str]:
        deadline = time.monotonic() + WATCH_LIMIT_SECONDS
        while not is_gone() and time.monotonic() < deadline:
            with self._cond:
                lines = self._logs.get((namespace, pod), [])
                fresh, cursor = lines[cursor:], len(lines)
                obj = self._objects[("", "pods")].get((namespace, pod))
                ended = (
                    self._closed
                    or obj is None
                    or obj.get("status", {}).get("phase") in ("Succeeded", "Failed")
                )
                if not fresh and not ended:
                    self._cond.wait(POLL_SECONDS)
            yield from fresh
            if ended and not fresh:
                return


def _event(kind: str, obj: dict) -> dict:
    return {"type": kind, "object": copy.deepcopy(obj)}


def _wanted(key, obj, resource_key, namespace: str, name: str, matches) -> bool:
    meta = obj["metadata"]
    return (
        key == resource_key
        and (not namespace or meta.get("namespace") == namespace)
        and (not name or meta["name"] == name)
        and matches(_labels(obj))
    )


_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _gone(since: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {since}")


def _propagation(query: dict, body) -> str:
    if isinstance(body, dict) and body.get("propagationPolicy"):
        return body["propagationPolicy"]
    return query.get("propagationPolicy", "Background")


def _verb(method: str, target: _Target | None, query: dict) -> str:
    if target is None or (method == "GET" and target.name):
        return "get"
    if method == "GET":
        return "watch" if query.get("watch") in ("true", "1") else "list"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


# --- the service proxy -------------------------------------------------------------------------

_PROXY_PATH = re.compile(
    r"^/api/v1/namespaces/(?P<namespace>[^/]+)/services/(?P<name>[^/]+)/proxy(?P<path>/.*)?$"
)
_HOP_BY_HOP = frozenset(
    {"connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization"}
    | {"te", "trailer", "transfer-encoding", "upgrade"}
)
_CORS = frozenset(f"access-control-allow-{name}" for name in ("credentials", "headers", "methods", "origin"))

# transport.go's atomsToAttrs: the attributes of these tags that hold URLs the proxy rewrites.
_URL_ATTRIBUTES = {
    "a": {"href"},
    "applet": {"codebase"},
    "area": {"href"},
    "audio": {"src"},
    "base": {"href"},
    "blockquote": {"cite"},
    "body": {"background"},
    "button": {"formaction"},
    "command": {"icon"},
    "del": {"cite"},
    "embed": {"src"},
    "form": {"action"},
    "frame": {"longdesc", "src"},
    "head": {"profile"},
    "html": {"manifest"},
    "iframe": {"longdesc", "src"},
    "img": {"longdesc", "src", "usemap"},
    "input": {"src", "usemap", "formaction"},
    "ins": {"cite"},
    "link": {"href"},
    "object": {"classid", "codebase", "data", "usemap"},
    "q": {"cite"},
    "script": {"src"},
    "source": {"src"},
    "video": {"poster", "src"},
}
# Elements whose content Go's HTML tokenizer reads as text, not tags: nothing inside is rewritten.
_RAW_TEXT = frozenset(
    {"iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp"}
)
_QUOTED = r"\"[^\"]*\"|'[^']*'"
_TAG = re.compile(rf"<!--.*?-->|<(?P<tag>[a-zA-Z][^\s/>]*)(?P<attributes>(?:[^>\"']|{_QUOTED})*)>", re.S)
_ATTRIBUTE = re.compile(rf"(?P<before>[\s/](?P<name>[^\s/>=]+)\s*=\s*)(?P<value>{_QUOTED}|[^\s>\"']+)")


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


# Content-Encoding -> (decode, encode) of the HTML that transport.go rewrites; other encodings pass as
# they are. Its "deflate" is Go's compress/flate: raw DEFLATE without the zlib header.
_HTML_CODINGS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "": (lambda data: data, lambda data: data),
    "gzip": (gzip.decompress, gzip.compress),
    "deflate": (functools.partial(zlib.decompress, wbits=-zlib.MAX_WBITS), _raw_deflate),
}


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def _service_and_port(name: str) -> tuple[str, str]:
    """The service and port ("" when none) of `svc`, `svc:port` or `scheme:svc:port`; https is
    served as http here. Raises ApiError (400) as the apiserver's SplitSchemeNamePort rejects."""
    parts = name.split(":")
    scheme, service, port = parts if len(parts) == 3 else ["", *parts, ""][:3]
    if len(parts) > 3 or not service or scheme not in ("", "http", "https"):
        raise ApiError(400, "BadRequest", f'invalid service request "{name}"')
    return service, port


def _is_upgrade(headers: Message) -> bool:
    connection = ",".join(headers.get_all("Connection") or [])
    return "upgrade" in connection.lower() and bool(headers.get("Upgrade"))


def _connection_tokens(headers: Message) -> set[str]:
    """Headers that a Connection header names: hop-by-hop too, so a proxy drops them."""
    values = headers.get_all("Connection") or []
    return {token.strip().lower() for value in values for token in value.split(",")}


def _backend_headers(headers: Message, client_ip: str, *, upgrade: bool) -> list[tuple[str, str]]:
    """The request's headers for the backend: never Authorization (the apiserver removes it once it
    has authenticated), without hop-by-hop headers and Content-Length (the body goes whole, with a
    length of its own) unless the connection is upgraded (then the request goes as it came), and the
    client appended to X-Forwarded-For as Go's proxies do."""
    dropped = {"authorization", "x-forwarded-for"}
    if not upgrade:
        dropped |= _HOP_BY_HOP | {"content-length"} | _connection_tokens(headers)
    kept = [(key, value) for key, value in headers.items() if key.lower() not in dropped]
    return [*kept, ("X-Forwarded-For", ", ".join([*(headers.get_all("X-Forwarded-For") or []), client_ip]))]


def _under(prefix: str, path: str) -> str:
    """`path` below `prefix`, cleaned as Go's path.Join does, keeping a trailing slash (transport.go)."""
    joined = posixpath.normpath(f"{prefix}/{path}")
    return joined + "/" if path.endswith("/") and not joined.endswith("/") else joined


def _proxied_url(url: str, *, prefix: str, backend_host: str, request_host: str) -> str:
    """transport.go's rewriteURL: an absolute path, or a URL on the backend's or the requested host,
    goes under the proxy `prefix`; relative URLs and other hosts stay as they are."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if (parts.netloc and parts.netloc not in (backend_host, request_host)) or not parts.path.startswith("/"):
        return url
    # The apiserver's rewriting transport has no scheme or host of its own (a Go server request's URL
    # carries neither), so a URL keeps them only when it names the host the client asked for.
    scheme, netloc = (parts.scheme, parts.netloc) if parts.netloc == request_host else ("", "")
    path = parts.path if parts.path.startswith(prefix) else _under(prefix, parts.path)
    return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


def _rewrite_html(text: str, rewrite: Callable[[str], str]) -> str:
    """The URL attributes of `_URL_ATTRIBUTES` rewritten, tag by tag, skipping comments and the
    content of raw-text elements as Go's tokenizer does; everything else byte for byte."""
    pieces, position = [], 0
    while tag := _TAG.search(text, position):
        pieces += [text[position : tag.start()], _rewrite_tag(tag, rewrite)]
        position = tag.end()
        name = (tag["tag"] or "").lower()
        if name in _RAW_TEXT and not tag["attributes"].endswith("/"):
            end = re.compile(rf"</{name}[\s/>]", re.I).search(text, position)
            stop = end.start() if end else len(text)
            pieces.append(text[position:stop])
            position = stop
    return "".join([*pieces, text[position:]])


def _rewrite_tag(tag: re.Match, rewrite: Callable[[str], str]) -> str:
    names = _URL_ATTRIBUTES.get((tag["tag"] or "").lower())
    if not names:
        return tag[0]

    def attribute(match: re.Match) -> str:
        if match["name"].lower() not in names:
            return match[0]
        value = match["value"]
        quote = value[0] if value[0] in "\"'" else ""
        return match["before"] + quote + rewrite(value[1:-1] if quote else value) + quote

    return f"<{tag['tag']}{_ATTRIBUTE.sub(attribute, tag['attributes'])}>"


def _splice(client_reader, client: socket.socket, backend_reader, backend: socket.socket) -> None:
    """Copy bytes both ways until either side closes, then shut both (upgradeaware.go's two copies)."""

    def pump(reader, writer: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while data := reader.read1(65536):
                writer.sendall(data)
        for end in (client, backend):  # wakes the other direction's read
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    upstream = threading.Thread(target=pump, args=(client_reader, backend), name="kube-proxy-up", daemon=True)
    upstream.start()
    pump(backend_reader, client)
    upstream.join()


class _ServiceProxy:
    """The handler's half that serves /api/v1/namespaces/{ns}/services/{name}/proxy[/{path}], as the
    apiserver's UpgradeAwareHandler and rewriting Transport do: authenticate, resolve the backend,
    then pass upgrades through as raw bytes, redirect the bare root to `.../proxy/`, and forward
    anything else with X-Forwarded-Uri, rewriting Location and HTML links on the way back. Not
    subject to `faults`. Plain requests go to the backend on a connection of their own."""

    def _proxy(self, api: KubeApiServer, method: str, url: SplitResult, query: dict, route: re.Match) -> None:
        api.requests.record("proxy", url.path, query)
        path = route["path"] or ""
        prefix = url.path[: route.start("path")] if path else url.path  # up to and including /proxy
        try:
            body = self._request_body()
            if not self.headers.get("Authorization"):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            address = api.service_address(route["namespace"], route["name"])
            if _is_upgrade(self.headers):
                self._upgrade(address, path)
            elif not path and method in ("GET", "HEAD"):
                location = url.path + "/" + (f"?{url.query}" if url.query else "")
                self._send(301, "Moved Permanently", [("Location", location), ("Content-Length", "0")])
            else:
                self._forward(method, address, prefix, path or "/", url.query, body)
        except ApiError as error:
            self._reply(error.code, "application/json", json.dumps(error.status()).encode())

    def _request_body(self) -> bytes | None:
        """The request's body, sent with Content-Length or chunked; None when it has none."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return b"".join(iter(self._request_chunk, b""))
        if self.headers.get("Content-Length"):
            return self.rfile.read(int(self.headers["Content-Length"]))
        return None

    def _request_chunk(self) -> bytes:
        size = int(self.rfile.readline().split(b";")[0], 16)
        data = self.rfile.read(size)
        if size:
            self.rfile.readline()  # the CRLF after the data
        else:
            while self.rfile.readline().strip():  # the last chunk's trailers, up to a blank line
                pass
        return data

    def _forward(self, method: str, address: str, prefix: str, path: str, query: str, body) -> None:
        host, port = address.rsplit(":", 1)
        backend = http.client.HTTPConnection(host, int(port), timeout=WATCH_LIMIT_SECONDS)
        headers = _backend_headers(self.headers, self.client_address[0], upgrade=False)
        headers.append(("X-Forwarded-Uri", _under(prefix, path)))
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        try:
            target = path + (f"?{query}" if query else "")
            backend.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for key, value in headers:
                backend.putheader(key, value)
            backend.endheaders(body)
            response = backend.getresponse()
        except (OSError, http.client.HTTPException) as error:
            backend.close()
            raise _unavailable(f"error trying to reach service: {error}") from error
        rewrite = functools.partial(
            _proxied_url, prefix=prefix, backend_host=address, request_host=self.headers.get("Host", "")
        )
        with contextlib.closing(backend):
            self._pass_back(method, response, rewrite)

    def _pass_back(self, method: str, response: http.client.HTTPResponse, rewrite) -> None:
        """The backend's status, headers and body, less hop-by-hop and CORS headers (the apiserver
        drops both), with a Location rewritten or else an HTML body's links (Content-Length fixed)."""
        dropped = _HOP_BY_HOP | _CORS | _connection_tokens(response.msg)
        headers = [(key, value) for key, value in response.getheaders() if key.lower() not in dropped]
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        coding = _HTML_CODINGS.get(response.getheader("Content-Encoding") or "")
        if response.getheader("Location"):
            headers = [(k, rewrite(v) if k.lower() == "location" else v) for k, v in headers]
        elif content_type == "text/html" and coding and method != "HEAD":
            decode, encode = coding
            try:
                html = _rewrite_html(decode(response.read()).decode("latin-1"), rewrite)
            except (OSError, EOFError, zlib.error, http.client.HTTPException) as error:
                raise ApiError(500, "InternalError", f"failed to rewrite URLs: {error}") from error
            data = encode(html.encode("latin-1"))
            headers = [(key, value) for key, value in headers if key.lower() != "content-length"]
            self._send(response.status, response.reason, [*headers, ("Content-Length", str(len(data)))], data)
            return
        self._stream_back(method, response, headers)

    def _stream_back(self, method: str, response: http.client.HTTPResponse, headers: list) -> None:
        """The body piece by piece as the backend sends it: with its length when it gave one,
        otherwise chunked."""
        bodiless = method == "HEAD" or response.status in (204, 304) or response.status < 200
        chunked = not bodiless and response.length is None
        framing = [("Transfer-Encoding", "chunked")] if chunked else []
        self._send(response.status, response.reason, [*headers, *framing])
        try:
            while data := response.read1(65536):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # either side gave up mid-body

    def _upgrade(self, address: str, path: str) -> None:
        """Send the request as it came (less Authorization) on a connection of its own and, once the
        backend switches protocols, splice the two connections until either closes. As the apiserver
        (kubernetes#77142), the query is not passed on and X-Forwarded-Uri is not added."""
        host, port = address.rsplit(":", 1)
        try:
            backend = socket.create_connection((host, int(port)), timeout=WATCH_LIMIT_SECONDS)
        except OSError as error:
            raise ApiError(500, "InternalError", f"error dialing backend: {error}") from error
        headers = _backend_headers(self.headers, self.client_address[0], upgrade=True)
        head = f"{self.command} {path or '/'} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        response = http.client.HTTPResponse(backend, method=self.command)
        with contextlib.closing(backend), contextlib.closing(response):
            backend.sendall(head.encode("latin-1") + b"\r\n")
            response.begin()
            if response.status != 101 and response.status < 400:
                message = f"invalid upgrade response: status code {response.status}"
                raise ApiError(500, "InternalError", message)
            self.close_connection = True
            if response.status != 101:  # a refusal goes back as it is, then the connection ends
                self._pass_back(self.command, response, lambda url: url)
                return
            self._send(101, response.reason, response.getheaders())
            _splice(self.rfile, self.connection, response.fp, backend)

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], data: bytes = b"") -> None:
        self.send_response_only(status, reason)
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)


class _Handler(_ServiceProxy, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    def do_HEAD(self):
        self._serve("HEAD")

    def do_OPTIONS(self):
        self._serve("OPTIONS")

    def _serve(self, method: str) -> None:
        api: KubeApiServer = self.server.api  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if route := _PROXY_PATH.match(url.path):
            self._proxy(api, method, url, query, route)
            return
        if method in ("HEAD", "OPTIONS"):  # only the service proxy serves these
            self.send_error(501, f"Unsupported method ({method!r})")
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
            target = api.route(url.path)
            verb = _verb(method, target, query)
            api.requests.record(verb, url.path, query)
            fault = api.faults.draw(verb)
            if fault == "error":
                raise ApiError(api.faults.error_status, "InternalError", "injected fault")
            if fault == "conflict":
                raise ApiError(409, "Conflict", "injected conflict: the object has been modified")
            streams = target is not None and (verb == "watch" or target.subresource == "log")
            if fault == "delay" and streams:
                time.sleep(api.faults.delay_seconds)  # nothing arrives before the client's timeout
            if target is None:
                status, payload = 200, api.discovery(url.path)
            elif target.subresource == "log":
                self._stream_logs(api, target, query)
                return
            elif verb == "watch":
                events = api.watch(target, query, self._gone)
                self._stream("application/json", (json.dumps(event).encode() + b"\n" for event in events))
                return
            else:
                status, payload = api.serve(method, target, query, body)
            if fault == "delay":
                time.sleep(api.faults.delay_seconds)  # served, but answered after the client gave up
        except ApiError as error:
            status, payload = error.code, error.status()
        except (ValueError, KeyError, TypeError) as error:
            status, payload = 400, ApiError(400, "BadRequest", str(error)).status()
        self._reply(status, "application/json", json.dumps(payload).encode())

    def _stream_logs(self, api: KubeApiServer, target: _Target, query: dict) -> None:
        lines, follow = api.logs(target, query, self._gone)
        text = "".join(line + "\n" for line in lines).encode()
        if query.get("follow") not in ("true", "1"):
            self._reply(200, "text/plain", text)
            return
        later = ((line + "\n").encode() for line in follow)
        self._stream("text/plain", itertools.chain([text] if text else [], later))

    def _reply(self, status: int, content_type: str, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _stream(self, content_type: str, chunks: Iterator[bytes]) -> None:
        """A chunked response, one chunk per event or log line, ending the connection afterwards."""
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for chunk in chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def _gone(self) -> bool:
        """Whether the client closed its end: a closed socket reads as ready with no data."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


# --- the kubelet and the controllers, played by the test ---------------------------------------


class Kubelet:
    """What the cluster's controllers and kubelets would do, on the test's command: pods for a
    Job, StatefulSet or Deployment, pod phases and exit codes, Job conditions, log text."""

    def __init__(self, server: KubeApiServer):
        self.server = server

    def start_job(self, namespace: str, name: str, *, running: bool = True) -> list[dict]:
        """One pod per completion index (`{job}-{index}-{suffix}`), running or pending."""
        job = self._get("Job", namespace, name)
        count = job["spec"].get("completions") or job["spec"].get("parallelism") or 1
        pods = []
        for index in range(count):
            labels = {
                "batch.kubernetes.io/job-name": name,
                "job-name": name,
                "batch.kubernetes.io/controller-uid": job["metadata"]["uid"],
                "batch.kubernetes.io/job-completion-index": str(index),
            }
            annotations = {"batch.kubernetes.io/job-completion-index": str(index)}
            pod_name = f"{name}-{index}-{uuid.uuid4().hex[:5]}"
            pod = self._pod(job, pod_name, labels, annotations, hostname=f"{name}-{index}")
            pods.append(self.set_pod(namespace, self.server.put(pod)["metadata"]["name"], running=running))
        status = {"startTime": _now(), "active": count, "ready": count if running else 0}
        self._update_status("Job", namespace, name, status)
        return pods

    def finish_job(self, namespace: str, name: str) -> None:
        """Every pod exits 0 (started first if there are none); the Job is Complete."""
        pods = self.pods_of("Job", namespace, name) or self.start_job(namespace, name)
        for pod in pods:
            self.set_pod(namespace, pod["metadata"]["name"], exit_code=0)
        now = _now()
        conditions = [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "lastTransitionTime": now},
        ]
        status = {
            "succeeded": len(pods),
            "active": 0,
            "ready": 0,
            "completionTime": now,
            "conditions": conditions,
        }
        self._update_status("Job", namespace, name, status)

    def fail_job(
        self,
        namespace: str,
        name: str,
        *,
        index: int = 0,
        exit_code: int = 1,
        reason: str = "BackoffLimitExceeded",
        message: str = "Job has reached the specified backoff limit",
        pod_reason: str = "Error",
    ) -> None:
        """The pod of `index` exits with `exit_code` (the others are stopped); the Job Failed."""
        for pod in self.pods_of("Job", namespace, name) or self.start_job(namespace, name):
            labels = _labels(pod)
            if labels.get("batch.kubernetes.io/job-completion-index") == str(index):
                self.set_pod(namespace, pod["metadata"]["name"], exit_code=exit_code, reason=pod_reason)
            else:
                self.server.delete("Pod", namespace, pod["metadata"]["name"])
        conditions = [
            {"type": "FailureTarget", "status": "True", "reason": reason, "message": message},
            {
                "type": "Failed",
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": _now(),
            },
        ]
        self._update_status(
            "Job", namespace, name, {"failed": 1, "active": 0, "ready": 0, "conditions": conditions}
        )

    def start_statefulset(self, namespace: str, name: str, *, ready: bool = True) -> list[dict]:
        """Pods `{name}-{i}`, running (ready or not)."""

        def identity(index: int) -> tuple[str, dict]:
            pod = f"{name}-{index}"
            return pod, {
                "statefulset.kubernetes.io/pod-name": pod,
                "apps.kubernetes.io/pod-index": str(index),
            }

        return self._start_replicas("StatefulSet", namespace, name, identity, ready)

    def start_deployment(self, namespace: str, name: str, *, ready: bool = True) -> list[dict]:
        """Pods `{name}-{hash}-{suffix}`, running (ready or not)."""
        template_hash = uuid.uuid4().hex[:10]

        def identity(_: int) -> tuple[str, dict]:
            return f"{name}-{template_hash}-{uuid.uuid4().hex[:5]}", {"pod-template-hash": template_hash}

        return self._start_replicas("Deployment", namespace, name, identity, ready)

    def _start_replicas(self, kind: str, namespace: str, name: str, identity, ready: bool) -> list[dict]:
        owner = self._get(kind, namespace, name)
        count = owner["spec"].get("replicas", 1)
        pods = []
        for index in range(count):
            pod_name, labels = identity(index)
            pod = self.server.put(self._pod(owner, pod_name, labels, {}))
            pods.append(self.set_pod(namespace, pod["metadata"]["name"], ready=ready))
        ready_count = count if ready else 0
        status = {"replicas": count, "readyReplicas": ready_count, "availableReplicas": ready_count}
        self._update_status(kind, namespace, name, status)
        return pods

    def set_pod(
        self,
        namespace: str,
        name: str,
        *,
        running: bool = True,
        ready: bool = True,
        exit_code: int | None = None,
        reason: str | None = None,
        waiting: str | None = None,
        restarts: int = 0,
    ) -> dict:
        """A pod's phase from its one container: waiting (`waiting` reason, or not `running`),
        running (`ready` or not), or terminated with `exit_code` (Succeeded when 0)."""
        pod = self._get("Pod", namespace, name)
        container = pod["spec"]["containers"][0]["name"]
        now = _now()
        if exit_code is not None:
            phase = "Succeeded" if exit_code == 0 else "Failed"
            terminated = {
                "exitCode": exit_code,
                "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            }
            state, is_ready = {"terminated": {**terminated, "startedAt": now, "finishedAt": now}}, False
        elif waiting or not running:
            phase, state, is_ready = "Pending", {"waiting": {"reason": waiting or "ContainerCreating"}}, False
        else:
            phase, state, is_ready = "Running", {"running": {"startedAt": now}}, ready
        pod["status"] = {
            "phase": phase,
            "startTime": now,
            "conditions": [{"type": "Ready", "status": str(is_ready)}],
            "containerStatuses": [
                {"name": container, "ready": is_ready, "restartCount": restarts, "state": state, "image": ""}
            ],
        }
        return self.server.put(pod)

    def pods_of(self, kind: str, namespace: str, name: str) -> list[dict]:
        owner = self._get(kind, namespace, name)
        return [
            pod
            for pod in self.server.objects("Pod", namespace)
            if any(
                ref.get("uid") == owner["metadata"]["uid"]
                for ref in pod["metadata"].get("ownerReferences", [])
            )
        ]

    def _get(self, kind: str, namespace: str, name: str) -> dict:
        obj = self.server.get(kind, namespace, name)
        if obj is None:
            raise LookupError(f"no {kind} {namespace}/{name} on the test server")
        return obj

    def _pod(
        self, owner: dict, name: str, labels: dict, annotations: dict, hostname: str | None = None
    ) -> dict:
        template = owner["spec"]["template"]
        spec = copy.deepcopy(template["spec"])
        if hostname and spec.get("subdomain"):
            spec["hostname"] = hostname
        metadata = {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": {**(template.get("metadata") or {}).get("labels", {}), **labels},
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}

    def _update_status(self, kind: str, namespace: str, name: str, status: dict) -> dict:
        obj = self._get(kind, namespace, name)
        obj["status"] = {**obj.get("status", {}), **status}
        return self.server.put(obj)


# --- the pytest plugin -------------------------------------------------------------------------


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    """A fresh Kubernetes API test server; `.api_client` talks to it."""
    with KubeApiServer() as server:
        yield server


@pytest.fixture
def cluster_api_client():
    """A `kubernetes.client.ApiClient` for the real cluster KUBECONFIG names (tests marked `cluster`)."""
    from kubernetes import config

    client = config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    yield client
    client.close()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("cluster") and not os.environ.get("KUBECONFIG"):
        pytest.skip("needs a real Kubernetes cluster: set KUBECONFIG to run it")
