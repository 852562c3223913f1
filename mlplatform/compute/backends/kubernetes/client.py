"""The one module that owns the Kubernetes client: its configuration, plain-JSON calls for the kinds
the platform makes, idempotent create and delete, and which errors are worth retrying.

Calls go through the official client's `ApiClient` (configuration, authentication, connection
pool) but not its generated per-kind methods and models: one path scheme serves every kind
(custom resources too), and plain dicts are what the manifest builders make and what the
informers cache, with no model conversion on the way.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from mlplatform.compute.backends.base import BackendError, Endpoint

DEFAULT_TIMEOUT_SECONDS = 30.0
# API groups of the optional integrations, as the cluster's discovery (`/apis`) lists them.
INTEGRATION_GROUPS = {
    "kueue": "kueue.x-k8s.io",
    "jobset": "jobset.x-k8s.io",
    "kubeflow": "kubeflow.org",
    "kserve": "serving.kserve.io",
    "mpijob": "kubeflow.org/v2beta1",  # mpi-operator v2: a group and version
    "coscheduling": "scheduling.x-k8s.io",  # scheduler-plugins' PodGroup
    "metrics": "metrics.k8s.io/v1beta1",  # metrics-server's PodMetrics: live CPU and memory
}


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API: `/api/v1/...` for the core group, `/apis/{group}/{version}/...`."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The collection (no name; across namespaces without one) or one object's path."""
        parts = ["/api" if "/" not in self.api_version else "/apis", self.api_version]
        if self.namespaced and namespace:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        parts += [part for part in (name, subresource) if part]
        return "/".join(parts)


KINDS = {
    kind.kind: kind
    for kind in (
        Kind("v1", "Namespace", "namespaces", namespaced=False),
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("v1", "Secret", "secrets"),
        Kind("v1", "Service", "services"),
        Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        Kind("v1", "Pod", "pods"),
        Kind("batch/v1", "Job", "jobs"),
        Kind("apps/v1", "StatefulSet", "statefulsets"),
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        Kind("kubeflow.org/v2beta1", "MPIJob", "mpijobs"),
        Kind("scheduling.x-k8s.io/v1alpha1", "PodGroup", "podgroups"),
        Kind("metrics.k8s.io/v1beta1", "PodMetrics", "pods"),
    )
}


def kind_of(name: str) -> Kind:
    """The Kind named `name` (e.g. "Job"). Raises BackendError (permanent) for a kind not served here."""
    try:
        return KINDS[name]
    except KeyError:
        raise BackendError(
            f"the Kubernetes backend does not handle the kind {name!r}", temporary=False
        ) from None


class Gone(Exception):
    """A watch asked for a resourceVersion the server no longer keeps (410 Gone): list again."""


def load_api_client() -> k8s.ApiClient:
    """A client for the cluster this process runs in (its service account), else the one KUBECONFIG
    (or ~/.kube/config) names. Raises BackendError (permanent) when there is neither."""
    configuration = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
    except k8s_config.ConfigException:
        try:
            # KUBECONFIG is read now: the library reads it once, when it is first imported.
            k8s_config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration
            )
        except (k8s_config.ConfigException, OSError) as exc:
            raise BackendError(f"no Kubernetes configuration found: {exc}", temporary=False) from exc
    return k8s.ApiClient(configuration)


def in_cluster() -> bool:
    """Whether this process runs in a pod with a service account (what in-cluster config needs)."""
    from kubernetes.config.incluster_config import SERVICE_TOKEN_FILENAME

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(SERVICE_TOKEN_FILENAME)


def classify(exc: Exception, action: str = "") -> BackendError:
    """A BackendError for a failed call: temporary for what a later retry can fix (429, 5xx, 409
    Conflict on an update, timeouts, connection errors), permanent otherwise (400, 401, 403,
    404, 422: a retry would get the same answer). `action` says what was being done."""
    prefix = f"{action}: " if action else ""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, ApiException):
        status = exc.status or 0
        reason, message = _status_text(exc)
        temporary = status in (0, 408, 409, 429) or status >= 500
        return BackendError(f"{prefix}{status} {reason}: {message}".rstrip(": "), temporary=temporary)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return BackendError(f"{prefix}the Kubernetes API did not answer ({exc})", temporary=True)
    return BackendError(f"{prefix}{exc}", temporary=False)


def _status_text(exc: ApiException) -> tuple[str, str]:
    """(reason, message) from the Status body the API server sends with an error."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict):
        return body.get("reason") or exc.reason or "", body.get("message") or ""
    return exc.reason or "", ""


def _is_already_exists(exc: ApiException) -> bool:
    return exc.status == 409 and _status_text(exc)[0] == "AlreadyExists"


class KubeClient:
    """Plain-dict access to the Kubernetes API. Methods raise BackendError (see `classify`), except
    `watch`, which raises Gone when it must list again."""

    def __init__(self, api_client: k8s.ApiClient | None = None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS):
        self.api_client = api_client or load_api_client()
        self.timeout = timeout

    @property
    def host(self) -> str:
        return self.api_client.configuration.host

    def service_proxy(self, namespace: str, service: str, port: int) -> Endpoint:
        """A Service's port through the API server's proxy, with this client's credentials: the
        way in from outside the cluster. Tokens are read on each call (they may be refreshed)."""
        configuration = self.api_client.configuration
        headers = tuple(
            (setting["key"], setting["value"])
            for setting in configuration.auth_settings().values()
            if setting["in"] == "header" and setting["value"]
        )
        return Endpoint(
            url=f"{configuration.host.rstrip('/')}/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy",
            headers=headers,
            via_api_server=True,
            verify=bool(configuration.verify_ssl),
            ca_file=configuration.ssl_ca_cert,
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
        )

    # --- objects

    def create(self, obj: dict) -> dict:
        """Create `obj`; if it already exists, that is done too: returns what the server has."""
        kind = kind_of(obj["kind"])
        meta = obj["metadata"]
        action = f"create {obj['kind']} {_name(meta.get('namespace'), meta['name'])}"
        try:
            return self._json("POST", kind.path(meta.get("namespace")), body=obj)
        except ApiException as exc:
            if not _is_already_exists(exc):
                raise classify(exc, action) from exc
        existing = self.get(obj["kind"], meta.get("namespace"), meta["name"])
        if existing is None:  # deleted between our create and our read: try again later
            raise BackendError(f"{action}: it exists and is being deleted", temporary=True)
        return existing

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        """The object, or None when there is none."""
        try:
            return self._json("GET", kind_of(kind).path(namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise classify(exc, f"read {kind} {_name(namespace, name)}") from exc

    def list_objects(
        self, kind: str, *, namespace: str | None = None, selector: str | None = None
    ) -> tuple[list[dict], str]:
        """(objects, the list's resourceVersion) in one namespace or, without one, in all."""
        query = {"labelSelector": selector} if selector else {}
        try:
            result = self._json("GET", kind_of(kind).path(namespace), query=query)
        except ApiException as exc:
            raise classify(exc, f"list {kind}") from exc
        for item in result.get("items") or []:
            # Items of a list carry no kind: add it, so cached objects look like fetched ones.
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", kind_of(kind).api_version)
        return result.get("items") or [], result["metadata"].get("resourceVersion", "")

    def patch(self, kind: str, namespace: str | None, name: str, patch: dict) -> dict:
        """A JSON merge patch. A missing object is a permanent error; a conflict a temporary one."""
        try:
            return self._json(
                "PATCH",
                kind_of(kind).path(namespace, name),
                body=patch,
                content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            raise classify(exc, f"patch {kind} {_name(namespace, name)}") from exc

    def replace(self, obj: dict) -> dict:
        """PUT `obj`; a stale metadata.resourceVersion is a temporary error (read again, retry)."""
        meta = obj["metadata"]
        try:
            return self._json("PUT", kind_of(obj["kind"]).path(meta.get("namespace"), meta["name"]), body=obj)
        except ApiException as exc:
            raise classify(
                exc, f"replace {obj['kind']} {_name(meta.get('namespace'), meta['name'])}"
            ) from exc

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        """Delete one object, its dependents in the background. False when it was already gone."""
        try:
            self._json("DELETE", kind_of(kind).path(namespace, name), body=_BACKGROUND)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise classify(exc, f"delete {kind} {_name(namespace, name)}") from exc
        return True

    def delete_collection(self, kind: str, namespace: str, selector: str) -> None:
        """Delete every `kind` in `namespace` matching the label selector (none is fine)."""
        query = {"labelSelector": selector, "propagationPolicy": "Background"}
        try:
            self._json("DELETE", kind_of(kind).path(namespace), query=query)
        except ApiException as exc:
            if exc.status != 404:
                raise classify(exc, f"delete {kind} in {namespace} ({selector})") from exc

    # --- streams

    def watch(
        self,
        kind: str,
        *,
        resource_version: str,
        selector: str | None = None,
        idle_seconds: float = 0.1,
        max_seconds: float = 10.0,
    ) -> Iterator[dict]:
        """Events ({"type", "object"}) after `resource_version`, across namespaces, until none
        comes for `idle_seconds` or `max_seconds` have passed: a short drain, not a long watch.
        BOOKMARK events pass through (they carry a newer resourceVersion). Raises Gone for a
        resourceVersion the server no longer keeps, BackendError for other failures."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(math.ceil(max_seconds)),
        }
        if selector:
            query["labelSelector"] = selector
        action = f"watch {kind}"
        deadline = time.monotonic() + max_seconds
        try:
            response = self._open("GET", kind_of(kind).path(), query)
        except ApiException as exc:
            if exc.status == 410:
                raise Gone(str(exc)) from exc
            raise classify(exc, action) from exc
        sock = getattr(response.connection, "sock", None)
        if sock is not None:  # the headers came within the usual timeout; events may pause this long
            sock.settimeout(idle_seconds)
        try:
            for line in _lines(response):
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    if status.get("code") == 410:
                        raise Gone(status.get("message", "too old resource version"))
                    raise BackendError(f"{action}: {status.get('message', status)}", temporary=True)
                yield event
                if time.monotonic() >= deadline:
                    return
        except urllib3.exceptions.ReadTimeoutError:
            return  # drained: nothing more within idle_seconds
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise classify(exc, action) from exc
        finally:
            response.close()  # before release_conn: a half-read stream must not go back to the pool
            response.release_conn()

    def pod_logs(
        self,
        namespace: str,
        pod: str,
        *,
        tail_lines: int | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> Iterator[str]:
        """A pod's log lines (the last `tail_lines`); with `follow`, on until the pod ends; with
        `timestamps`, each starting with the RFC 3339 time the kubelet got it and a space."""
        options = (("tailLines", tail_lines), ("follow", follow), ("timestamps", timestamps))
        query = {key: value for key, value in options if value}
        action = f"read the logs of pod {namespace}/{pod}"
        try:
            response = self._open(
                "GET",
                KINDS["Pod"].path(namespace, pod, "log"),
                query,
                timeout=(self.timeout, None if follow else self.timeout),  # a followed log may pause
            )
        except ApiException as exc:
            raise classify(exc, action) from exc
        try:
            yield from _lines(response)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise classify(exc, action) from exc
        finally:
            response.close()  # before release_conn: a half-read stream must not go back to the pool
            response.release_conn()

    # --- the cluster

    def served_groups(self) -> set[str]:
        """Names of the API groups the cluster serves (`/apis`), e.g. "batch", "kueue.x-k8s.io",
        and their versions, e.g. "kubeflow.org/v2beta1"."""
        try:
            groups = self._json("GET", "/apis").get("groups") or []
        except ApiException as exc:
            raise classify(exc, "list the served API groups") from exc
        names = {group["name"] for group in groups}
        return names | {
            version["groupVersion"] for group in groups for version in group.get("versions") or ()
        }

    def detect_integrations(self) -> dict[str, bool]:
        """Which optional integrations the cluster has: kueue, jobset, kubeflow, kserve, mpijob
        (kubeflow.org/v2beta1), coscheduling, metrics (metrics.k8s.io/v1beta1)."""
        served = self.served_groups()
        return {name: group in served for name, group in INTEGRATION_GROUPS.items()}

    # --- HTTP

    def _json(
        self,
        method: str,
        path: str,
        *,
        query: dict | None = None,
        body: dict | None = None,
        content_type: str = "application/json",
    ) -> dict:
        response = self._open(method, path, query or {}, body=body, content_type=content_type)
        return json.loads(response.data or b"null")

    def _open(
        self,
        method: str,
        path: str,
        query: dict,
        *,
        body: dict | None = None,
        content_type: str = "application/json",
        timeout=None,
    ):
        """Send a request; returns the urllib3 response (the body not yet read where 2xx).
        Raises ApiException for an HTTP error, BackendError (temporary) when nothing came back."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, body, _ = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query.items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api_client.call_api(
                method, url, header_params=headers, body=body, _request_timeout=timeout or self.timeout
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise classify(exc, f"{method} {path}") from exc
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException(http_resp=response)
        return response.response


_BACKGROUND = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}


def _name(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _lines(response) -> Iterator[str]:
    """Lines of a streamed response, as they arrive."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")
