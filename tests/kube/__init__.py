"""A Kubernetes API test server the official `kubernetes` client talks to over HTTP, and the pytest
plugin around it: the `kube` fixture (a fresh server per test) and the `cluster` marker.

Why a server of our own rather than kmock's KubernetesEmulator: tried first, kmock 0.8 slows down
with its request history (creating ConfigMaps: 250 in 10 s on a fresh emulator, the fifth 250 in
90 s), which rules out the 1,000-workload benchmark, and it lacks most of what the backend relies
on: uid, resourceVersion and creationTimestamp, 201 on create, PUT, label selectors, namespaces,
pod logs, watch resume and 410 Gone. Adding those meant replacing every verb's handler on top of
its private internals. This one is a threaded `http.server` on the standard library (pytest only
for the fixtures here; `benchmarks/` imports the server), about as big as that adapter
would have been.

What it serves: objects per (resource, namespace, name) with uid, one cluster-wide increasing
resourceVersion and creationTimestamp; create (201, 409 AlreadyExists, 404 when the namespace is
missing), get, list across namespaces with label selectors (`k=v`, `k!=v`, `k in (..)`,
`k notin (..)`, `k`, `!k`), merge patch (strategic merge treated as merge), PUT (409 Conflict on a
stale resourceVersion), delete and deletecollection (404 when missing; dependents named by
ownerReferences go too, as the garbage collector would, unless `garbage_collector` is off), the
status subresource, watch streams that resume from a resourceVersion and answer 410 Gone for
versions older than the retained window (`watch_window`, `compact()`), discovery (`/api`,
`/apis`, optional groups via `add_api_group`), pod logs (plain text, `tailLines`, `follow`,
`timestamps`), and the services/proxy subresource to backends the test declares
(`service_backend`), with the apiserver's authentication check, Location and HTML link rewriting
and WebSocket upgrades.
It counts requests per verb and path (`requests`), counts successful creates per object
(`created`), injects faults reproducibly (`faults`), and lets a test play the kubelet and the
Job, StatefulSet and Deployment controllers (`kubelet`).

Modules: `server` (KubeApiServer: routing, discovery, verbs) over `streams` (watch, pod logs) over
`store` (objects, resourceVersions, events, garbage collection); `resources` (what it serves, its
errors); `objects` (label selectors, merge patch); `request_log` and `faults`; `handler` (HTTP),
`service_proxy` and `link_rewriting` (the services/proxy subresource); `kubelet`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube.resources import OPTIONAL_GROUPS, ApiError
from tests.kube.server import KubeApiServer

__all__ = ["OPTIONAL_GROUPS", "ApiError", "KubeApiServer", "kubeconfig"]


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


# --- the pytest plugin -------------------------------------------------------------------------


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    """A fresh Kubernetes API test server; `.api_client` talks to it."""
    with KubeApiServer() as server:
        yield server


@pytest.fixture
def cluster_api_client(request):
    """A `kubernetes.client.ApiClient` for a real cluster (tests marked `cluster`): the one KUBECONFIG
    names, else the session's own control plane (tests/cluster/)."""
    from kubernetes import config

    path = os.environ.get("KUBECONFIG") or str(request.getfixturevalue("control_plane").kubeconfig)
    client = config.new_client_from_config(config_file=path)
    yield client
    client.close()
