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

from mlplatform.compute import replica_env
from mlplatform.compute.spec import LocalRun, ReplicaGroup, Resources, Volume, WorkloadKind, WorkloadSpec

ROLE = "notebook"
PORT = 8888  # the container's port; the local backend maps it to a free loopback port
HOME_VOLUME = "home"
HOME = "/home/jovyan"  # the Jupyter Docker Stacks' home; the local backend maps it to a host folder
LAUNCHER_SOURCE = (Path(__file__).parent / "jupyter_launch.py").read_text()
RESERVED_ENV_PREFIXES = (replica_env.PREFIX, "JUPYTER_")
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
    python: str = sys.executable,
) -> WorkloadSpec:
    """The workload of one start of a notebook, whatever backend will run it. In the image, Jupyter
    is the image's, started through its entrypoint (the Docker Stacks' `start.sh`) on PORT; on this
    machine (`local`) it is `python`'s, on the loopback port the local backend allocates. `storage`
    names the project's connections to wire in."""
    launch = ("-c", LAUNCHER_SOURCE)
    served = (
        f"--ServerApp.base_url={base_path(project, name)}",
        f"--ServerApp.root_dir=$({replica_env.volume_variable(HOME_VOLUME)})",
    )
    # The console reaches the image's Jupyter through its Service: any Host header, the token gates.
    in_image = ("--ServerApp.ip=0.0.0.0", f"--ServerApp.port={PORT}", "--ServerApp.allow_remote_access=True")
    on_this_machine = ("--ServerApp.ip=127.0.0.1", f"--ServerApp.port=$({replica_env.PORT})")
    # allow_root: the local backend runs it as whoever runs the console.
    rest = ("--ServerApp.allow_root=True", "--ServerApp.open_browser=False")
    return WorkloadSpec(
        name=name,
        kind=WorkloadKind.NOTEBOOK,
        storage=storage,
        groups=(
            ReplicaGroup(
                role=ROLE,
                count=1,
                image=image,
                args=("python", *launch, *served, *in_image, *rest),
                local=LocalRun(command=(python, *launch), args=(*served, *on_this_machine, *rest)),
                env={
                    **env,
                    "HOME": HOME,
                    "MLPLATFORM_NOTEBOOK_TOKEN_SHA256": token_sha256,
                    "MLPLATFORM_NOTEBOOK_USER": user,
                },
                resources=Resources(flavor=flavor, gpus=gpus, cpu=cpu, memory_gib=memory_gib),
                ports=(PORT,),
                volumes=(Volume(name=HOME_VOLUME, mount_path=HOME, size_gib=home_size_gib, persistent=True),),
                readiness_path=f"{base_path(project, name)}api",
            ),
        ),
    )
