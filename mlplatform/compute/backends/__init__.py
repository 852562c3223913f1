"""Backends run admitted workloads: `local` (child processes) or `kubernetes`.

Only the compute services call `get_backend`; apps never import a backend.
"""

from __future__ import annotations

import functools
import os

from django.conf import settings

from mlplatform.compute.backends.base import Backend

BACKENDS = ("local", "kubernetes")


def default_backend_name() -> str:
    """COMPUTE_BACKEND when set; else kubernetes in a cluster or with KUBECONFIG; else local."""
    configured = getattr(settings, "COMPUTE_BACKEND", "")
    if configured:
        return configured
    if os.environ.get("KUBERNETES_SERVICE_HOST") or os.environ.get("KUBECONFIG"):
        return "kubernetes"
    return "local"


@functools.cache
def get_backend(name: str | None = None) -> Backend:
    name = name or default_backend_name()
    if name == "local":
        from mlplatform.compute.backends.local.backend import LocalBackend  # each loaded when first used

        return LocalBackend.from_settings()
    if name == "kubernetes":
        from mlplatform.compute.backends.kubernetes.backend import KubernetesBackend  # (the client is big)

        return KubernetesBackend.from_settings()
    raise ValueError(f"unknown compute backend {name!r}: use one of {', '.join(BACKENDS)}")
