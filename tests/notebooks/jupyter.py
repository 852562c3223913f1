"""A notebook's own JupyterLab started straight from its spec, outside any backend: what the
benchmark compares the platform with, and what a test plays a notebook's pod with."""

from __future__ import annotations

import hashlib
import os
import subprocess
from decimal import Decimal
from pathlib import Path


def start_jupyterlab(*, project: str, name: str, secret: str, port: int, home: Path) -> subprocess.Popen:
    """JupyterLab as the local backend would run it (launcher, base URL, token digest), listening on
    127.0.0.1:`port` with `home` as its home; the caller stops it."""
    from mlplatform.compute.envexpand import expand
    from notebooks_app.specs import notebook_spec

    group = notebook_spec(
        project=project,
        name=name,
        image="",
        flavor="cpu",
        gpus=0,
        cpu=Decimal(1),
        memory_gib=Decimal(1),
        home_size_gib=1,
        env={},
        token_sha256=hashlib.sha256(secret.encode()).hexdigest(),
        user="jovyan",
        backend="local",
    ).groups[0]
    env = {**os.environ, **group.env, "HOME": str(home)}
    env |= {"MLPLATFORM_PORT": str(port), "MLPLATFORM_VOLUME_HOME": str(home)}
    argv = [expand(arg, env) for arg in (*group.command, *group.args)]
    return subprocess.Popen(argv, env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
