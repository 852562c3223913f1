"""The environment a local replica gets: a few of this host's variables, the platform's
(replica_env), the storage wiring's and the group's own, with container paths moved to host folders."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from mlplatform.compute.backends.base import Wiring, WorkloadRef
from mlplatform.compute.envexpand import expand_all
from mlplatform.compute.replica_env import replica_env
from mlplatform.compute.spec import ReplicaGroup, Volume

BASIC_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL")


def local_replica_env(
    ref: WorkloadRef,
    group: ReplicaGroup,
    replica: dict,
    *,
    volumes: Mapping[Volume, Path],
    wiring: Wiring,
    files_dir: Path,
    cluster: str,
    gpus: list[str],
) -> dict[str, str]:
    """In the order of the Kubernetes manifests, so `$(NAME)` means the same on both backends:
    injected variables, volumes, wiring.env and the group's env (expanded, the group's value
    winning; the group's LocalRun env last), secret values last and literal (a secretKeyRef is
    never expanded)."""
    env = basic_env()
    env |= replica_env(
        workload=ref.id,
        role=group.role,
        index=replica["index"],
        cluster=cluster,
        port=replica["port"],
        volumes={volume.name: str(path) for volume, path in volumes.items()},
    )
    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    # Paths the replica would see in a container name host folders here.
    homes = {wiring.files_dir: files_dir, **{volume.mount_path: path for volume, path in volumes.items()}}
    extra = group.local.env if group.local is not None else {}
    plain = {name: _rehome(value, homes) for name, value in {**wiring.env, **group.env, **extra}.items()}
    return env | expand_all(plain, env) | dict(wiring.secret_env)


def basic_env() -> dict[str, str]:
    """What a process needs from this host: PATH (the venv's bin first), HOME, locale, and the venv."""
    env = {name: os.environ[name] for name in BASIC_ENV if name in os.environ}
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
        env["PATH"] = os.pathsep.join([str(Path(sys.prefix) / "bin"), env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"  # logs show up as they are written
    return env


def _rehome(value: str, homes: Mapping[str, Path]) -> str:
    for container_path, host_path in homes.items():
        base = container_path.rstrip("/")
        if value == base or value.startswith(base + "/"):
            return str(host_path) + value[len(base) :]
    return value
