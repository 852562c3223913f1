"""What replicas get to reach their project's buckets: a plain value (no Django), made by
`storage.wiring` and taken by every compute backend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The variables storage wiring sets beside the credentials (compute.replica_env lists them all).
DEFAULT_BUCKET = "MLPLATFORM_DEFAULT_BUCKET"  # the default connection's URI
LOCAL_BUCKETS = "MLPLATFORM_LOCAL_BUCKETS"  # the folder of file:// buckets, where there is one


@dataclass(frozen=True)
class Wiring:
    """Storage access for the replicas (storage.wiring makes it, backends take it): `env` may be
    written anywhere; `secret_env` and `files` only into a Secret or a private folder."""

    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    files_dir: str = "/var/run/mlplatform/storage"
