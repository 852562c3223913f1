"""The test server itself: the store and its streams served over HTTP on 127.0.0.1 (a free port),
with routing, discovery, the verbs, and the Services' declared backends for the proxy."""

from __future__ import annotations

import copy
import threading
from http.server import ThreadingHTTPServer

from tests.kube.faults import Faults
from tests.kube.handler import Handler
from tests.kube.kubelet import Kubelet
from tests.kube.objects import label_selector, merge_patch
from tests.kube.request_log import RequestLog
from tests.kube.resources import VERBS, ApiError, Target, not_found, unavailable
from tests.kube.service_proxy import service_and_port
from tests.kube.streams import POLL_SECONDS, Streams


class KubeApiServer(Streams):
    """The in-memory API server on 127.0.0.1 (a free port), serving until `close()`."""

    def __init__(self, *, watch_window: int = 50_000, garbage_collector: bool = True):
        super().__init__(watch_window=watch_window, garbage_collector=garbage_collector)
        self.requests = RequestLog()
        self.faults = Faults()
        self.kubelet = Kubelet(self)
        self._backends: dict[tuple[str, str, int], str] = {}  # (namespace, service, port) -> host:port
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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

    def service_backend(self, namespace: str, service: str, port: int, address: str) -> None:
        """Declare where the Service's `port` (a number from its spec.ports) really answers, as
        "host:port": what its Endpoints and kube-proxy would give. The service proxy forwards there;
        a port with no backend answers 503, as a Service without ready pods does."""
        with self._cond:
            self._backends[(namespace, service, int(port))] = address

    # --- HTTP: routing

    def route(self, path: str) -> Target | None:
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
        return Target(resource, namespace, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")

    def service_address(self, namespace: str, name: str) -> str:
        """The backend "host:port" for a proxy path's `svc`, `svc:port` or `scheme:svc:port`, resolved
        as the apiserver does: a port number through the Service's spec.ports to that port's name, then
        the name (none for an unnamed port) matched against the Endpoints' port names. Raises ApiError:
        400 for a malformed name, 404 when the Service is missing (the apiserver reads the Service only
        for a port number, the Endpoints otherwise, hence two messages), 503 when nothing answers."""
        service, port = service_and_port(name)
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
                raise unavailable(f'no service port {port} found for service "{service}"')
            port = numbered[0].get("name", "")
        if not backends:
            raise unavailable(f'no endpoints available for service "{service}"')
        for spec in ports:
            if spec.get("name", "") == port and spec.get("port") in backends:
                return backends[spec["port"]]
        raise unavailable(f'no endpoints available for service "{name}"')

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
                {"name": r.plural, "kind": r.kind, "namespaced": r.namespaced, "verbs": list(VERBS)}
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

    def serve(self, method: str, target: Target, query: dict, body) -> tuple[int, dict]:
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
                raise not_found(resource, name)
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


def _propagation(query: dict, body) -> str:
    if isinstance(body, dict) and body.get("propagationPolicy"):
        return body["propagationPolicy"]
    return query.get("propagationPolicy", "Background")
