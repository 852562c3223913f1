"""A model version as a WorkloadSpec: a service of one replica group, `server`. Pure: the typed
request (prediction_app.inputs) and the values the services looked up go in, a spec comes out.

The built-in predictor (prediction_app.serving) runs in the predictor image (docker/predictor) on
PORT; on this machine (`local`) with the console's Python on the loopback port the local backend
gives it. It reads the version from AIP_* and MLPLATFORM_* variables and the model files through the
storage wiring every workload gets (`storage`: the connection holding the deploymentUri). A custom
container runs as given, with the AIP_* variables AI Platform sets; it has no local alternative.
Manual scaling runs `nodes` replicas; autoscaling starts minNodes and may grow to maxNodes, which
is what quota admits it for.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from mlplatform.compute import replica_env
from mlplatform.compute.spec import (
    LocalRun,
    ReplicaGroup,
    Resources,
    SpecError,
    WorkloadKind,
    WorkloadSpec,
    validate_spec,
)
from mlplatform.core.errors import ApplicationError
from prediction_app.inputs import V, VersionInput

ROLE = "server"
PORT = 8080  # the predictor's, and a custom container's unless it names one
PREDICT_ROUTE, HEALTH_ROUTE = "/predict", "/health"
SERVER_MODULE = "prediction_app.serving"
SOURCE_ROOT = str(Path(__file__).resolve().parents[1])  # where this machine's Python finds it
NAME_MAX = 40
BAD_MODEL_EXIT_CODE = 3  # the predictor's exit code when the model cannot load
BAD_MODEL_MARK = "Bad model detected with error:"  # its last stderr line then


@dataclass(frozen=True)
class Serving:
    """Where predictions go on a version's replicas."""

    port: int
    predict_route: str
    health_route: str


def serving(
    *, model: str, version: str, custom: bool, port: int | None, predict: str, health: str
) -> Serving:
    """The built-in predictor's routes, or a custom container's (Google's defaults where unset)."""
    if not custom:
        return Serving(PORT, PREDICT_ROUTE, HEALTH_ROUTE)
    base = f"/v1/models/{model}/versions/{version}"
    return Serving(port or PORT, predict or f"{base}:predict", health or base)


def version_spec(
    request: VersionInput,
    *,
    model: str,
    resources: Resources,
    image: str,
    storage: tuple[str, ...],
    python: str = sys.executable,
    source_root: str = SOURCE_ROOT,
) -> WorkloadSpec:
    """The workload serving `request`, a version of `model`. `image` is the predictor image (a custom
    container brings its own), `storage` the connections to wire in. Raises ApplicationError."""
    container = request.container
    where = serving(
        model=model,
        version=request.name,
        custom=container is not None,
        port=container.port if container else None,
        predict=request.predict_route,
        health=request.health_route,
    )
    env = {
        "AIP_PREDICT_ROUTE": where.predict_route,
        "AIP_HEALTH_ROUTE": where.health_route,
        "AIP_STORAGE_URI": request.deployment_uri,
        "AIP_MODEL_NAME": model,
        "AIP_VERSION_NAME": request.name,
        "AIP_MODE": "PREDICTION",
    }
    scaling = request.scaling
    group = ReplicaGroup(
        role=ROLE,
        count=scaling.min_nodes,
        max_count=scaling.max_nodes if scaling.auto else None,
        image=container.image if container else image,
        resources=resources,
        ports=(where.port,),
        readiness_path=where.health_route,
    )
    if container is not None:
        group = _custom(group, container, env | {"AIP_HTTP_PORT": str(where.port)})
    else:
        group = _predictor(group, request, env, python, source_root)
    spec = WorkloadSpec(
        name=workload_name(model, request.name), kind=WorkloadKind.SERVICE, groups=(group,), storage=storage
    )
    try:
        validate_spec(spec)
    except SpecError as exc:
        raise ApplicationError(f"This version cannot run: {exc.field} {exc.message}.", field=V) from exc
    return spec


def _predictor(
    group: ReplicaGroup, request: VersionInput, env: dict, python: str, source_root: str
) -> ReplicaGroup:
    ours = {
        "MLPLATFORM_FRAMEWORK": request.framework,
        "MLPLATFORM_PREDICTION_CLASS": request.prediction_class,
        "MLPLATFORM_PACKAGE_URIS": " ".join(request.package_uris),
        "MLPLATFORM_MAX_BATCH_SIZE": str(request.max_batch_size or ""),
        "MLPLATFORM_MAX_BATCH_TIME_MS": str(request.max_batch_time_ms or ""),
    }
    in_image = {"AIP_HTTP_PORT": str(PORT), "MLPLATFORM_HOST": "0.0.0.0"}
    # The local backend starts replicas in their own folders: the source's root goes on the path.
    on_this_machine = {
        "AIP_HTTP_PORT": f"$({replica_env.PORT})",
        "MLPLATFORM_HOST": "127.0.0.1",
        "PYTHONPATH": source_root,
    }
    return replace(
        group,
        command=("python", "-m", SERVER_MODULE),
        env={**env, **{k: v for k, v in ours.items() if v}, **in_image},
        local=LocalRun(command=(python, "-m", SERVER_MODULE), env=on_this_machine),
    )


def _custom(group: ReplicaGroup, container, env: dict) -> ReplicaGroup:
    return replace(group, command=container.command, args=container.args, env={**dict(container.env), **env})


def workload_name(model: str, version: str) -> str:
    """A DNS label from the model's and version's names: lowercase, '-' for the rest, at most NAME_MAX."""
    name = re.sub(r"[^a-z0-9]+", "-", f"{model}-{version}".lower()).strip("-")
    if not name[:1].isalpha():
        name = f"v-{name}"
    return name[:NAME_MAX].rstrip("-")
