"""What apps get back from compute's selectors and services besides rows, re-exported from
`backends.base` so that apps never import a backend: `Endpoint` (where the console reaches a
replica's port: `selectors.workload_endpoint`), `Stage` (how far a replica got, in
`Workload.replicas`) and `BackendError` (a backend could not do it; `temporary` ones are worth
retrying)."""

from __future__ import annotations

from mlplatform.compute.backends.base import BackendError, Endpoint, Stage

__all__ = ["BackendError", "Endpoint", "Stage"]
