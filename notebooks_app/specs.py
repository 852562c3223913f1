"""A notebook as a WorkloadSpec: one replica running JupyterLab behind the console's proxy. Pure.

Jupyter serves under the proxy's path (`/notebooks/{project}/{name}/`), keeps its files in the
persistent `home` volume, and lets in only requests with the proxy's token, which it knows by its
SHA-256 alone (see jupyter_launch.py).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from mlplatform.compute.spec import ReplicaGroup, Resources, Volume, WorkloadKind, WorkloadSpec

ROLE = "notebook"
PORT = 8888  # the container's port; the local backend maps it to a free loopback port
HOME = "/home/jovyan"  # the Jupyter Docker Stacks' home; the local backend maps it to a host folder
LAUNCHER_SOURCE = (Path(__file__).parent / "jupyter_launch.py").read_text()
RESERVED_ENV_PREFIXES = ("MLPLATFORM_", "JUPYTER_")
TOKEN_HEADER = "X-MLPlatform-Notebook-Token"  # the token where `Authorization` is taken (jupyter_launch.py)


def base_path(project: str, name: str) -> str:
    return f"/notebooks/{project}/{name}/"


def notebook_spec(
    *,
    project: str,
    name: str,
    image: str,
    flavor: str,
    gpus: int,
    cpu: Decimal,
    memory_gib: Decimal,
    home_size_gib: int,
    env: Mapping[str, str],
    storage: tuple[str, ...] = (),
    token_sha256: str,
    user: str,
    backend: str,
    python: str = sys.executable,
) -> WorkloadSpec:
    """The workload of one start of a notebook. On the local backend Jupyter is this machine's
    (`python`, on the allocated loopback port); on Kubernetes the image's, started through its
    entrypoint (the Docker Stacks' `start.sh`) on PORT. `storage` names the project's connections
    to wire in."""
    local = backend == "local"
    launch = (python if local else "python", "-c", LAUNCHER_SOURCE)
    options = (
        f"--ServerApp.base_url={base_path(project, name)}",
        "--ServerApp.root_dir=$(MLPLATFORM_VOLUME_HOME)",
        *(
            ("--ServerApp.ip=127.0.0.1", "--ServerApp.port=$(MLPLATFORM_PORT)")
            if local
            # The console reaches it through its Service: any Host header is fine, the token gates.
            else (
                "--ServerApp.ip=0.0.0.0",
                f"--ServerApp.port={PORT}",
                "--ServerApp.allow_remote_access=True",
            )
        ),
        "--ServerApp.allow_root=True",  # the local backend runs as whoever runs the console
        "--ServerApp.open_browser=False",
    )
    return WorkloadSpec(
        name=name,
        kind=WorkloadKind.NOTEBOOK,
        storage=storage,
        groups=(
            ReplicaGroup(
                role=ROLE,
                count=1,
                image=image,
                command=launch if local else (),
                args=options if local else (*launch, *options),
                env={
                    **env,
                    "HOME": HOME,
                    "MLPLATFORM_NOTEBOOK_TOKEN_SHA256": token_sha256,
                    "MLPLATFORM_NOTEBOOK_USER": user,
                },
                resources=Resources(flavor=flavor, gpus=gpus, cpu=cpu, memory_gib=memory_gib),
                ports=(PORT,),
                volumes=(Volume(name="home", mount_path=HOME, size_gib=home_size_gib, persistent=True),),
                readiness_path=f"{base_path(project, name)}api",
            ),
        ),
    )
