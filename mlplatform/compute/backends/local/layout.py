"""The run folders of the local backend: what lies where under its root (settings.DATA_DIR / "local").

runs/{project}/{ref.key}/
    workload.json               ref, spec (no secret values), each replica's loopback port
    cancelled                   written by cancel: the folder stays for its logs
    private/                    0700: {role}-{index}.env.json (0600) and files/ (wiring.files)
    {role}-{index}/             replica.json, launcher.pid, pid, status.json, output.log,
                                launcher.log, result.json (see launcher.py), volumes/ (scratch)
volumes/{project}/{spec name}/{volume name}/   persistent volumes, kept across workloads
gpus.json, gpus.lock            who holds which GPU (gpus.py)
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlplatform.compute.backends.base import BackendError, WorkloadRef
from mlplatform.compute.backends.local.launcher import read_json

WORKLOAD_FILE = "workload.json"
CANCELLED_FILE = "cancelled"
PRIVATE_DIR = "private"
SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def segment(name: str) -> str:
    """A name that is safe as one path segment; anything else is a caller's bug."""
    if not SAFE_SEGMENT.match(name):
        raise BackendError(f"'{name}' cannot name a folder", temporary=False)
    return name


def run_dir(root: Path, ref: WorkloadRef) -> Path:
    return root / "runs" / segment(ref.project) / segment(ref.key)


def volumes_of(root: Path, project: str, name: str) -> Path:
    """The persistent volumes of the workloads named `name`."""
    return root / "volumes" / segment(project) / segment(name)


def replica_name(replica: dict) -> str:
    """`{role}-{index}`: a replica's folder in its run, and its env file's name in private/."""
    return f"{replica['role']}-{replica['index']}"


def env_file(replica_dir: Path) -> Path:
    return replica_dir.parent / PRIVATE_DIR / f"{replica_dir.name}.env.json"


def owner(ref: WorkloadRef, replica: dict) -> str:
    """Who holds a replica's GPUs in the ledger: its folder under runs/."""
    return f"{ref.project}/{ref.key}/{replica_name(replica)}"


def replica_dirs(run: Path) -> list[Path]:
    workload = read_json(run / WORKLOAD_FILE) or {"replicas": []}
    return [run / replica_name(replica) for replica in workload["replicas"]]


def private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is filtered by the umask


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` (made where missing), shared by every worker of this machine."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
