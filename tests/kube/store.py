"""The test server's objects: one store with uids, one increasing resourceVersion, the events a
watch resumes from (a window: older ones are 410 Gone), and the garbage collector's cascades."""

from __future__ import annotations

import collections
import copy
import threading
import uuid
from collections.abc import Callable

from tests.kube.objects import label_selector, labels_of, timestamp
from tests.kube.resources import BUILTIN_RESOURCES, ApiError, ApiResource, not_found


class ObjectStore:
    """Objects per (resource, namespace, name); every change is an event. Callers of the private
    methods hold `_cond`."""

    def __init__(self, *, watch_window: int, garbage_collector: bool):
        self.watch_window = watch_window  # events kept for watches that resume; older: 410 Gone
        self.garbage_collector = garbage_collector
        self.created: collections.Counter = collections.Counter()  # (kind, namespace, name) -> creates
        self._resources: dict[tuple[str, str], ApiResource] = {}
        self._versions: dict[str, str] = {}  # group -> served version
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._events: list[tuple[int, str, tuple[str, str], dict]] = []  # (rv, type, resource key, obj)
        self._compacted = 0  # the newest resourceVersion no longer in `_events`
        self._rv = 0
        self._cond = threading.Condition()
        self._closed = False
        for resource in BUILTIN_RESOURCES:
            self._add_resource(resource)

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
                raise not_found(resource, name)
            self._delete(resource, obj, "Background")

    # --- the store (callers hold self._cond)

    def _select(self, resource: ApiResource, namespace: str, matches: Callable[[dict], bool]) -> list[dict]:
        return [
            obj
            for (ns, _), obj in self._objects[resource.key].items()
            if (not namespace or ns == namespace) and matches(labels_of(obj))
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
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=timestamp(), generation=1)
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
            marked["metadata"]["deletionTimestamp"] = timestamp()
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
