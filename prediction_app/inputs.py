"""A Version body of `ml v1` parsed into frozen dataclasses: its shape checked (names, scaling,
a custom container apart from runtimes, AIP_ env), nothing looked up. Whether the catalog has the
machine type and accelerator, and whether the project reaches the deploymentUri, are the services'.
Bad input raises ApplicationError naming the field (`version.autoScaling.minNodes`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlplatform.compute.spec import ENV_NAME
from mlplatform.core.errors import ApplicationError, Refusals
from mlplatform.gcp import proto
from mlplatform.gcp.labels import labels_checked
from prediction_app.models import NAME

V = "version"  # the request body's field in Google's error messages
FRAMEWORKS = {"TENSORFLOW", "SCIKIT_LEARN", "XGBOOST"}
VERSION_FIELDS = {
    "name",
    "description",
    "deploymentUri",
    "runtimeVersion",
    "pythonVersion",
    "framework",
    "machineType",
    "acceleratorConfig",
    "autoScaling",
    "manualScaling",
    "predictionClass",
    "packageUris",
    "container",
    "routes",
    "labels",
    "requestLoggingConfig",  # Google: no effect on create
}
OUTPUT_ONLY = {"state", "errorMessage", "isDefault", "createTime", "lastUseTime", "etag"}
OUTPUT_ONLY |= {"lastMigrationModelId", "lastMigrationTime"}
REFUSED = {
    "serviceAccount": "service accounts are not supported: versions read the project's storage connections.",
    "explanationConfig": "explanations are not supported here.",
}
CONTAINER_FIELDS = {"image", "command", "args", "env", "ports"}
RESERVED_ENV_PREFIX = "AIP_"
PYTHON_VERSION = re.compile(r"^3\.[0-9]{1,2}\Z")
LABEL_BATCH_SIZE = "mlplatform-max-batch-size"  # adaptive batching, off without these labels
LABEL_BATCH_TIME = "mlplatform-max-batch-time-ms"
WHOLE = re.compile(r"^[0-9]{1,6}\Z")


@dataclass(frozen=True)
class Accelerator:
    type: str
    count: int


@dataclass(frozen=True)
class Scaling:
    """Nodes to start with and (autoscaling) the most it may grow to."""

    min_nodes: int
    max_nodes: int | None
    auto: bool


@dataclass(frozen=True)
class Container:
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    port: int | None


@dataclass(frozen=True)
class VersionInput:
    name: str
    description: str
    deployment_uri: str
    runtime_version: str
    python_version: str
    framework: str
    machine_type: str
    accelerator: Accelerator | None
    scaling: Scaling
    prediction_class: str
    package_uris: tuple[str, ...]
    container: Container | None
    predict_route: str
    health_route: str
    labels: dict[str, str]
    max_batch_size: int | None
    max_batch_time_ms: int | None

    @property
    def uris(self) -> list[tuple[str, str]]:
        """(field, URI) of every file the version reads: checked against the project's connections."""
        found = [(f"{V}.deploymentUri", self.deployment_uri)] if self.deployment_uri else []
        return found + [(f"{V}.packageUris[{i}]", uri) for i, uri in enumerate(self.package_uris)]


def name_checked(value, *, field: str, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ApplicationError(
            f"{what} names start with a letter and contain only letters, digits and underscores "
            "(at most 128).",
            field=field,
        )
    return value


def version_input_from_json(body) -> VersionInput:
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be a Version object.", field=V)
    proto.check_fields(body, VERSION_FIELDS | OUTPUT_ONLY, type_name="Version", path=V, refused=REFUSED)
    refusals = Refusals()  # the fields a form sets are checked each on its own, to report them all
    name = refusals.check(name_checked, body.get("name"), field=f"{V}.name", what="Version")
    container = _container(body.get("container"))
    runtime = proto.string(body.get("runtimeVersion"), field=f"{V}.runtimeVersion")
    framework = proto.string(body.get("framework"), field=f"{V}.framework")
    if framework == "FRAMEWORK_UNSPECIFIED":
        framework = ""
    packages = proto.strings(body.get("packageUris"), field=f"{V}.packageUris")
    if container is not None:
        for field, value in (
            ("runtimeVersion", runtime),
            ("framework", framework),
            ("packageUris", packages),
        ):
            if value:
                raise ApplicationError(
                    "a custom container brings its own server: leave runtimeVersion, framework and "
                    "packageUris out.",
                    field=f"{V}.{field}",
                )
    if framework and framework not in FRAMEWORKS:
        choices = ", ".join(sorted(FRAMEWORKS))
        refusals.refuse(
            f"'{framework}' is not a framework here; use one of {choices}.", field=f"{V}.framework"
        )
    deployment_uri = refusals.check(proto.string, body.get("deploymentUri"), field=f"{V}.deploymentUri")
    prediction_class = proto.string(body.get("predictionClass"), field=f"{V}.predictionClass")
    if container is None and not deployment_uri:
        refusals.refuse("is required: the folder of the model's files.", field=f"{V}.deploymentUri")
    if prediction_class and not packages:
        raise ApplicationError(
            "a prediction routine needs the packages that hold it.", field=f"{V}.packageUris"
        )
    python = proto.string(body.get("pythonVersion"), field=f"{V}.pythonVersion")
    if python and not PYTHON_VERSION.match(python):
        raise ApplicationError(f"'{python}' is not a Python version such as 3.7.", field=f"{V}.pythonVersion")
    routes = proto.message(body.get("routes"), field=f"{V}.routes")
    proto.check_fields(routes, {"predict", "health"}, type_name="RouteMap", path=f"{V}.routes")
    if routes and container is None:
        raise ApplicationError("routes are for a custom container.", field=f"{V}.routes")
    labels = labels_checked(body.get("labels") or {})
    machine_type = refusals.check(proto.string, body.get("machineType"), field=f"{V}.machineType")
    scaling = refusals.check(scaling_from_json, body.get("autoScaling"), body.get("manualScaling"))
    description = refusals.check(proto.string, body.get("description"), field=f"{V}.description")
    refusals.raise_any()
    return VersionInput(
        name=name,
        description=description,
        deployment_uri=deployment_uri,
        runtime_version=runtime,
        python_version=python,
        framework=framework,
        machine_type=machine_type,
        accelerator=_accelerator(body.get("acceleratorConfig")),
        scaling=scaling,
        prediction_class=prediction_class,
        package_uris=packages,
        container=container,
        predict_route=_route(routes.get("predict"), "predict"),
        health_route=_route(routes.get("health"), "health"),
        labels=labels,
        max_batch_size=_label_number(labels, LABEL_BATCH_SIZE),
        max_batch_time_ms=_label_number(labels, LABEL_BATCH_TIME),
    )


def scaling_from_json(auto, manual) -> Scaling:
    """autoScaling or manualScaling (not both); neither: one node, as manualScaling.nodes=1."""
    auto = proto.message(auto, field=f"{V}.autoScaling")
    manual = proto.message(manual, field=f"{V}.manualScaling")
    if auto and manual:
        raise ApplicationError("Give autoScaling or manualScaling, not both.", field=f"{V}.manualScaling")
    if manual:
        proto.check_fields(manual, {"nodes"}, type_name="ManualScaling", path=f"{V}.manualScaling")
        nodes = proto.int64(manual.get("nodes", 1), field=f"{V}.manualScaling.nodes", minimum=1)
        return Scaling(min_nodes=nodes, max_nodes=None, auto=False)
    if auto:
        fields = {"minNodes", "maxNodes", "metrics"}
        proto.check_fields(auto, fields, type_name="AutoScaling", path=f"{V}.autoScaling")
        # AI Platform lets minNodes be 0 (scale to zero); a service here keeps at least one node up.
        low = proto.int64(auto.get("minNodes", 1), field=f"{V}.autoScaling.minNodes", minimum=0)
        low = max(low, 1)
        high = auto.get("maxNodes")
        high = None if high in (None, 0) else proto.int64(high, field=f"{V}.autoScaling.maxNodes", minimum=1)
        if high is not None and low > high:
            raise ApplicationError(
                f"minNodes ({low}) must not be more than maxNodes ({high}).",
                field=f"{V}.autoScaling.minNodes",
            )
        return Scaling(min_nodes=low, max_nodes=high, auto=True)
    return Scaling(min_nodes=1, max_nodes=None, auto=False)


def _accelerator(value) -> Accelerator | None:
    path = f"{V}.acceleratorConfig"
    config = proto.message(value, field=path)
    if not config:
        return None
    proto.check_fields(config, {"type", "count"}, type_name="AcceleratorConfig", path=path)
    kind = proto.string(config.get("type"), field=f"{path}.type")
    if not kind:
        raise ApplicationError("is required.", field=f"{path}.type")
    return Accelerator(type=kind, count=proto.int64(config.get("count", 1), field=f"{path}.count", minimum=1))


def _container(value) -> Container | None:
    path = f"{V}.container"
    spec = proto.message(value, field=path)
    if not spec:
        return None
    proto.check_fields(spec, CONTAINER_FIELDS, type_name="ContainerSpec", path=path)
    image = proto.string(spec.get("image"), field=f"{path}.image")
    if not image:
        raise ApplicationError("is required.", field=f"{path}.image")
    env = []
    for i, item in enumerate(spec.get("env") or []):
        item = proto.message(item, field=f"{path}.env[{i}]")
        name = proto.string(item.get("name"), field=f"{path}.env[{i}].name")
        if not ENV_NAME.match(name):
            raise ApplicationError(
                f"'{name}' is not a valid environment variable name.", field=f"{path}.env[{i}]"
            )
        if name.startswith(RESERVED_ENV_PREFIX):
            raise ApplicationError(
                f"'{name}': names starting with {RESERVED_ENV_PREFIX} are set by the platform.",
                field=f"{path}.env[{i}].name",
            )
        env.append((name, proto.string(item.get("value"), field=f"{path}.env[{i}].value")))
    ports = spec.get("ports") or []
    if not isinstance(ports, list) or len(ports) > 1:
        raise ApplicationError("at most one port: predictions go to it.", field=f"{path}.ports")
    port = None
    if ports:
        port_path = f"{path}.ports[0].containerPort"
        port = proto.int64(
            proto.message(ports[0], field=f"{path}.ports[0]").get("containerPort"), field=port_path
        )
        if not 0 < port < 65536:
            raise ApplicationError(f"{port} is not a port number.", field=port_path)
    return Container(
        image=image,
        command=proto.strings(spec.get("command"), field=f"{path}.command"),
        args=proto.strings(spec.get("args"), field=f"{path}.args"),
        env=tuple(env),
        port=port,
    )


def _route(value, name: str) -> str:
    route = proto.string(value, field=f"{V}.routes.{name}")
    if route and not route.startswith("/"):
        raise ApplicationError("must be a path starting with '/'.", field=f"{V}.routes.{name}")
    return route


def _label_number(labels: dict[str, str], key: str) -> int | None:
    value = labels.get(key)
    if value is None:
        return None
    if not WHOLE.match(value) or int(value) < 1:
        raise ApplicationError("must be a whole number, at least 1.", field=f"{V}.labels.{key}")
    return int(value)
