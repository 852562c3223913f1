"""AI Platform's `trainingInput` (ml v1 TrainingInput) read from its JSON into a typed request.

Shapes only: types, proto3's int64 and Duration forms, unknown and refused fields, and which
fields go together. Whether the catalog offers a machine, an accelerator or a runtime, and whether
the project reaches a bucket, is for the look-ups (training_app.services). Every refusal is an
ApplicationError (INVALID_ARGUMENT) naming the JSON path, e.g. trainingInput.workerConfig.imageUri.

Fields accepted and ignored, as they do not change a job's result: `region`, and each config's
`diskConfig`. `hyperparameters` is read by training_app.hyperparameters. Refused, naming the
field: `network`, `encryptionConfig`, `serviceAccount`, `enableWebAccess` when set, TPUs (`BASIC_TPU`,
TPU accelerators, `tpuTfVersion`), and any field TrainingInput does not have.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial

from mlplatform.core.errors import ApplicationError, Refusals
from mlplatform.gcp import proto
from mlplatform.storage.uris import parse_uri
from training_app.hyperparameters import HyperparameterSpec, hyperparameters_from_json

TI = "trainingInput"
SCALE_TIERS = ("BASIC", "BASIC_GPU", "STANDARD_1", "PREMIUM_1")
CUSTOM = "CUSTOM"
MAX_PRIORITY = 1000
MAX_PACKAGES = 100
MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

# AI Platform's replica kinds: field prefix, the count's field (the master has none), group role.
KINDS = (
    ("master", None, "master"),
    ("worker", "workerCount", "worker"),
    ("parameterServer", "parameterServerCount", "ps"),
    ("evaluator", "evaluatorCount", "evaluator"),
)
ACCEPTED = {
    "args", "hyperparameters", "jobDir", "packageUris", "pythonModule", "pythonVersion", "region",
    "runtimeVersion", "scaleTier", "scheduling", "useChiefInTfConfig",
    *(f"{prefix}{suffix}" for prefix, _, _ in KINDS for suffix in ("Type", "Config")),
    *(count for _, count, _ in KINDS if count),
}  # fmt: skip
REFUSED = {
    "network": "Jobs run on the platform's own network: VPC peering is not available.",
    "encryptionConfig": "Customer-managed encryption keys are not available.",
    "serviceAccount": "Jobs reach buckets through the project's storage connections, not service accounts.",
    "enableWebAccess": "Interactive shells into training replicas are not available.",
}
TPUS = "TPUs are not available here."
CONFIG_FIELDS = {"acceleratorConfig", "containerArgs", "containerCommand", "diskConfig", "imageUri"}
CONTAINER_FIELDS = ("imageUri", "containerCommand", "containerArgs")
SCHEDULING_FIELDS = {"maxRunningTime", "maxWaitTime", "priority"}
ACCELERATOR_FIELDS = {"count", "type"}


@dataclass(frozen=True)
class AcceleratorConfig:
    type: str  # NVIDIA_TESLA_T4, ...: a name of the catalog's AcceleratorType
    count: int


@dataclass(frozen=True)
class ReplicaConfig:
    accelerator: AcceleratorConfig | None = None
    image_uri: str = ""
    container_command: tuple[str, ...] = ()
    container_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Replicas:
    """One replica kind as the job names it (scaleTier CUSTOM), or its config alone (other tiers)."""

    prefix: str  # its fields' prefix: master, worker, parameterServer, evaluator
    role: str  # its replica group's role: master (or chief), worker, ps, evaluator
    machine_type: str  # '' outside CUSTOM: the tier's machine
    count: int
    config: ReplicaConfig

    @property
    def path(self) -> str:
        return f"{TI}.{self.prefix}"


@dataclass(frozen=True)
class Package:
    uris: tuple[str, ...]
    module: str


@dataclass(frozen=True)
class Scheduling:
    max_running_seconds: int | None = None  # whole seconds, rounded up
    max_wait_seconds: int | None = None
    priority: int = 0  # 0..1000: bigger runs first


@dataclass(frozen=True)
class TrainingInput:
    scale_tier: str
    replicas: tuple[Replicas, ...]  # the master first; for CUSTOM, only kinds with replicas
    package: Package | None  # None: a custom container (masterConfig.imageUri)
    runtime_version: str
    python_version: str
    args: tuple[str, ...]
    job_dir: str
    use_chief_in_tf_config: bool
    scheduling: Scheduling
    json: dict  # as sent: TF_CONFIG's "job" and CLOUD_ML_JOB carry it
    hyperparameters: HyperparameterSpec | None = None  # a tuning job: each trial runs the replicas

    @property
    def master(self) -> Replicas:
        return self.replicas[0]

    @property
    def uris(self) -> tuple[tuple[str, str], ...]:
        """(field, URI) of each bucket object the job reads or writes."""
        packages = self.package.uris if self.package else ()
        named = [(f"{TI}.packageUris[{i}]", uri) for i, uri in enumerate(packages)]
        return (*named, *([(f"{TI}.jobDir", self.job_dir)] if self.job_dir else []))


def training_input_from_json(value) -> TrainingInput:
    """The typed request of a trainingInput body; raises ApplicationError naming the field."""
    ti = proto.message(value, field=TI)
    proto.check_fields(ti, ACCEPTED, type_name="TrainingInput", path=TI, refused=REFUSED)
    refusals = Refusals()  # the machines, the code, the args and the output are checked each on its own
    tier = proto.string(ti.get("scaleTier"), field=f"{TI}.scaleTier") or "BASIC"
    if tier == "BASIC_TPU" or tier not in (*SCALE_TIERS, CUSTOM):
        reason = TPUS if tier == "BASIC_TPU" else "It is not a scale tier."
        choices = ", ".join((*SCALE_TIERS, CUSTOM))
        raise ApplicationError(f"'{tier}': {reason} Use one of {choices}.", field=f"{TI}.scaleTier")
    configs = {prefix: _config(ti, prefix) for prefix, _, _ in KINDS}
    replicas = refusals.check(
        _custom_replicas if tier == CUSTOM else partial(_tier_replicas, tier=tier), ti, configs, default=()
    )
    package = None
    if configs["master"].image_uri:
        refusals.check(_check_container, ti, replicas)
    else:
        package = refusals.check(_package, ti)
    request = TrainingInput(
        scale_tier=tier,
        replicas=replicas,
        package=package,
        runtime_version=refusals.check(proto.string, ti.get("runtimeVersion"), field=f"{TI}.runtimeVersion"),
        python_version=refusals.check(proto.string, ti.get("pythonVersion"), field=f"{TI}.pythonVersion"),
        args=refusals.check(proto.strings, ti.get("args"), field=f"{TI}.args", default=()),
        job_dir=refusals.check(_uri, ti.get("jobDir"), f"{TI}.jobDir") if ti.get("jobDir") else "",
        use_chief_in_tf_config=proto.boolean(ti.get("useChiefInTfConfig"), field=f"{TI}.useChiefInTfConfig"),
        scheduling=refusals.check(_scheduling, ti.get("scheduling"), default=Scheduling()),
        json=ti,
        hyperparameters=refusals.check(hyperparameters_from_json, ti.get("hyperparameters")),
    )
    refusals.raise_any()
    return request


# --- machines --------------------------------------------------------------------------------


def _custom_replicas(ti: dict, configs: dict[str, ReplicaConfig]) -> tuple[Replicas, ...]:
    replicas = []
    for prefix, count_field, role in KINDS:
        count = 1 if count_field is None else _count(ti.get(count_field), f"{TI}.{count_field}")
        machine = proto.string(ti.get(f"{prefix}Type"), field=f"{TI}.{prefix}Type")
        if count and not machine:
            needs = (
                "scaleTier CUSTOM needs a masterType" if count_field is None else f"{count_field} needs it"
            )
            raise ApplicationError(f"is required: {needs}.", field=f"{TI}.{prefix}Type")
        if count:
            replicas.append(Replicas(prefix, role, machine, count, configs[prefix]))
    return tuple(replicas)


def _tier_replicas(ti: dict, configs: dict[str, ReplicaConfig], *, tier: str) -> tuple[Replicas, ...]:
    """Each kind's config: the tier says which kinds run, how many and on what."""
    for prefix, count_field, _ in KINDS:
        for name in (f"{prefix}Type", count_field):
            if name and ti.get(name) not in (None, "", 0, "0"):
                raise ApplicationError(
                    f"can only be set with scaleTier CUSTOM (not {tier}).", field=f"{TI}.{name}"
                )
        if configs[prefix].accelerator:
            field = f"{TI}.{prefix}Config.acceleratorConfig"
            raise ApplicationError("needs scaleTier CUSTOM and a Compute Engine machine type.", field=field)
    return tuple(Replicas(prefix, role, "", 0, configs[prefix]) for prefix, _, role in KINDS)


def _config(ti: dict, prefix: str) -> ReplicaConfig:
    path = f"{TI}.{prefix}Config"
    config = proto.message(ti.get(f"{prefix}Config"), field=path)
    proto.check_fields(
        config, CONFIG_FIELDS, type_name="ReplicaConfig", path=path, refused={"tpuTfVersion": TPUS}
    )
    image = config.get("imageUri")
    if image is not None and not isinstance(image, str):
        raise ApplicationError(
            "must be an image reference such as registry/trainer:1.", field=f"{path}.imageUri"
        )
    return ReplicaConfig(
        accelerator=_accelerator(config.get("acceleratorConfig"), f"{path}.acceleratorConfig"),
        image_uri=image or "",
        container_command=proto.strings(config.get("containerCommand"), field=f"{path}.containerCommand"),
        container_args=proto.strings(config.get("containerArgs"), field=f"{path}.containerArgs"),
    )


def _accelerator(value, path: str) -> AcceleratorConfig | None:
    accelerator = proto.message(value, field=path)
    if not accelerator:
        return None
    proto.check_fields(accelerator, ACCELERATOR_FIELDS, type_name="AcceleratorConfig", path=path)
    name = proto.string(accelerator.get("type"), field=f"{path}.type")
    if name.startswith("TPU_"):
        raise ApplicationError(f"'{name}': {TPUS}", field=f"{path}.type")
    count = _count(accelerator.get("count"), f"{path}.count")
    if count < 1:
        raise ApplicationError("must be at least 1.", field=f"{path}.count")
    return AcceleratorConfig(type=name, count=count)


# --- what runs -------------------------------------------------------------------------------


def _package(ti: dict) -> Package:
    """packageUris and pythonModule; no config may name a container's fields."""
    for prefix, _, _ in KINDS:
        config = ti.get(f"{prefix}Config") or {}
        for name in CONTAINER_FIELDS:
            if name in config:
                raise ApplicationError(
                    "needs a custom container: set masterConfig.imageUri (and no packageUris).",
                    field=f"{TI}.{prefix}Config.{name}",
                )
    uris = proto.strings(ti.get("packageUris"), field=f"{TI}.packageUris")
    if not uris:
        raise ApplicationError(
            "is required: the trainer's packages (or masterConfig.imageUri for a custom container).",
            field=f"{TI}.packageUris",
        )
    if len(uris) > MAX_PACKAGES:
        raise ApplicationError(f"at most {MAX_PACKAGES} packages.", field=f"{TI}.packageUris")
    for i, uri in enumerate(uris):
        _uri(uri, f"{TI}.packageUris[{i}]")
    module = ti.get("pythonModule")
    if not isinstance(module, str) or not MODULE.fullmatch(module):
        raise ApplicationError(
            "is required with packageUris: the module to run, such as trainer.task.",
            field=f"{TI}.pythonModule",
        )
    return Package(uris=uris, module=module)


def _check_container(ti: dict, replicas: tuple[Replicas, ...]) -> None:
    """A custom container runs its own program: no packages, and trainingInput.args or its own."""
    if ti.get("packageUris") or ti.get("pythonModule"):
        field = f"{TI}.packageUris" if ti.get("packageUris") else f"{TI}.pythonModule"
        raise ApplicationError(
            "Give packageUris and pythonModule, or masterConfig.imageUri, not both.", field=field
        )
    if not ti.get("args"):
        return
    for replica in replicas:
        config = replica.config
        if config.container_command or config.container_args:
            name = "containerCommand" if config.container_command else "containerArgs"
            field = f"{replica.path}Config.{name}"
            raise ApplicationError("cannot be set together with trainingInput.args.", field=field)


def _uri(value, field: str) -> str:
    """A gs:// or s3:// URI without commas (the runner's list separator)."""
    if not isinstance(value, str) or "," in value:
        raise ApplicationError("must be a gs:// or s3:// URI without commas.", field=field)
    parse_uri(value, field=field)
    return value


# --- scheduling ------------------------------------------------------------------------------


def _scheduling(value) -> Scheduling:
    path = f"{TI}.scheduling"
    scheduling = proto.message(value, field=path)
    proto.check_fields(scheduling, SCHEDULING_FIELDS, type_name="Scheduling", path=path)
    priority = _count(scheduling.get("priority"), f"{path}.priority")
    if priority > MAX_PRIORITY:
        raise ApplicationError(f"must be between 0 and {MAX_PRIORITY}.", field=f"{path}.priority")
    return Scheduling(
        max_running_seconds=_seconds(scheduling.get("maxRunningTime"), f"{path}.maxRunningTime"),
        max_wait_seconds=_seconds(scheduling.get("maxWaitTime"), f"{path}.maxWaitTime"),
        priority=priority,
    )


def _seconds(value, field: str) -> int | None:
    """Whole seconds of a Duration, rounded up; longer than 0s and short enough to be stored."""
    if value is None:
        return None
    seconds = math.ceil(proto.duration(value, field=field))
    if seconds <= 0:
        raise ApplicationError("must be longer than 0s.", field=field)
    if seconds > proto.COLUMN_MAX:
        raise ApplicationError(f"must be at most {proto.COLUMN_MAX}s.", field=field)
    return seconds


def _count(value, field: str) -> int:
    """A count (int64, not negative); 0 when unset."""
    return 0 if value in (None, "") else proto.int64(value, field=field, minimum=0)
