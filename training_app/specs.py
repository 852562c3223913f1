"""AI Platform's `trainingInput` (ml v1 TrainingInput) turned into a WorkloadSpec.

Replica groups are named by AI Platform's task types, "master" (or "chief"), "worker", "ps" and
"evaluator", so MLPLATFORM_CLUSTER already speaks TF_CONFIG's language. Machine and accelerator
names come from the catalog (quotas.MachineType, quotas.AcceleratorType), runtime images from
RuntimeVersion.

Package jobs (`packageUris` + `pythonModule`) run training_app/runtime/trainer.py in every replica:
it fetches and installs the packages, exports TF_CONFIG, CLOUD_ML_JOB and PyTorch's variables,
and execs the module. The local backend runs this repository's copy with the console's Python; on
Kubernetes the replica runs `python /opt/mlplatform/trainer.py` in the runtime image, so every
RuntimeVersion image must carry that file (and pip; setuptools >= 70.1 or `wheel` to install
sdists), not the bare python:* images the catalog starts with.

Custom containers (`masterConfig.imageUri`) run as given, on Kubernetes only. Their TF_CONFIG,
CLUSTER_SPEC, CLOUD_ML_JOB and CLOUD_ML_JOB_ID are set as env values that Kubernetes completes from
the injected MLPLATFORM_* variables (`$(NAME)`). Exact: "task", "job", "environment", and "cluster"
for jobs without evaluators. Not exact: evaluators appear in TF_CONFIG's "cluster" (AI Platform
leaves them out; nothing can filter them in an env value), and CLUSTER_SPEC equals TF_CONFIG. Not
set: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK (a worker's rank is its index + 1, which env
expansion cannot compute; read CLUSTER_SPEC instead).

Fields accepted and ignored, as they do not change a job's result: `region`, and each config's
`diskConfig`. Refused, naming the field: `hyperparameters` (tuning is not supported yet),
`network`, `encryptionConfig`, `serviceAccount`, `enableWebAccess` when set, TPUs (`BASIC_TPU`,
TPU accelerators, `tpuTfVersion`), and any field TrainingInput does not have.

Beyond AI Platform, three job labels shape retries (label values cannot hold commas, so exit codes
are joined by "-"): `mlplatform-retries: "2"` (attempts after the first), and
`mlplatform-fail-fast-exit-codes: "3-4"` (fail at once) / `mlplatform-retry-exit-codes: "137"`
(retry, counting against mlplatform-retries).
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from mlplatform.compute.spec import (
    ExitCodeAction,
    ExitCodeRule,
    FailurePolicy,
    LocalRun,
    ReplicaGroup,
    Resources,
    SpecError,
    WorkloadKind,
    WorkloadSpec,
    validate_spec,
)
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Project
from mlplatform.quotas.models import AcceleratorType, MachineType
from mlplatform.storage.selectors import connection_for_uri
from mlplatform.storage.uris import parse_uri
from training_app.models import RuntimeVersion
from training_app.runtime import trainer

TI = "trainingInput"
RUNNER = ("python", "/opt/mlplatform/trainer.py")  # in the runtime image
LOCAL_RUNNER = (sys.executable, str(Path(trainer.__file__).resolve()))  # ours, the console's Python
TRAINING_PORT = 2222  # AI Platform's replicas listen on it; addresses in TF_CONFIG end with it
NAME_MAX = 40
DEFAULT_MAX_RUN_SECONDS = 7 * 24 * 3600  # AI Platform's default maxRunningTime: seven days
MAX_PRIORITY = 1000
MAX_PACKAGES = 100
MAX_RETRIES = 10
SCALE_TIERS = ("BASIC", "BASIC_GPU", "STANDARD_1", "PREMIUM_1")
CUSTOM = "CUSTOM"
DURATION = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,9}))?s")
MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
WHOLE = re.compile(r"[0-9]{1,18}")  # an int64 that is not negative, as a string
EXIT_CODES = re.compile(r"[0-9]{1,3}(-[0-9]{1,3})*")
REPLICA_REFS = (
    "MLPLATFORM_CLUSTER",
    "MLPLATFORM_REPLICA_ROLE",
    "MLPLATFORM_REPLICA_INDEX",
)  # tf_config's order
CHIEF_SINCE = (2, 1)  # runtime versions from 2.1 name the master "chief" in TF_CONFIG

LABEL_RETRIES = "mlplatform-retries"
LABEL_FAIL_FAST = "mlplatform-fail-fast-exit-codes"
LABEL_RETRY_CODES = "mlplatform-retry-exit-codes"

# AI Platform's replica kinds: field prefix, the count's field (the master has none), group role.
KINDS = (
    ("master", None, "master"),
    ("worker", "workerCount", "worker"),
    ("parameterServer", "parameterServerCount", "ps"),
    ("evaluator", "evaluatorCount", "evaluator"),
)

ACCEPTED = {
    "args", "jobDir", "packageUris", "pythonModule", "pythonVersion", "region", "runtimeVersion",
    "scaleTier", "scheduling", "useChiefInTfConfig",
    *(f"{prefix}{suffix}" for prefix, _, _ in KINDS for suffix in ("Type", "Config")),
    *(count for _, count, _ in KINDS if count),
}  # fmt: skip
REFUSED = {
    "hyperparameters": "Hyperparameter tuning is not supported yet.",
    "network": "Jobs run on the platform's own network: VPC peering is not available.",
    "encryptionConfig": "Customer-managed encryption keys are not available.",
    "serviceAccount": "Jobs reach buckets through the project's storage connections, not service accounts.",
    "enableWebAccess": "Interactive shells into training replicas are not available.",
}
TPUS = "TPUs are not available here."
CONFIG_FIELDS = {
    "acceleratorConfig",
    "containerArgs",
    "containerCommand",
    "diskConfig",
    "imageUri",
    "tpuTfVersion",
}
SCHEDULING_FIELDS = {"maxRunningTime", "maxWaitTime", "priority"}
ACCELERATOR_FIELDS = {"count", "type"}


@dataclass(frozen=True)
class JobPlan:
    """What a job asks of the platform: its workload and how it queues."""

    spec: WorkloadSpec
    priority: int  # scheduling.priority, 0..1000: bigger runs first
    max_wait_seconds: int | None  # scheduling.maxWaitTime: fail if not running by then
    use_chief: bool  # whether the master's role (and TF_CONFIG's task type) is "chief"


@dataclass(frozen=True)
class _Replicas:
    prefix: str  # master, worker, parameterServer, evaluator
    role: str
    count: int
    resources: Resources
    config: dict


def job_spec(
    *,
    project: Project,
    job_id: str,
    training_input: dict,
    labels: dict | None = None,
    runs_images: bool = True,
) -> JobPlan:
    """The workload of a job. Raises ApplicationError (400, or 403 for a bucket the project cannot
    reach) with `field` the JSON path of the offending input, e.g. trainingInput.workerType.
    Without `runs_images` (the default backend runs processes only), custom containers are refused."""
    ti = _object(training_input, TI)
    _check_fields(ti, ACCEPTED, TI, REFUSED)
    configs = {prefix: _config(ti, prefix) for prefix, _, _ in KINDS}
    replicas = _replicas(ti, configs)
    if configs["master"].get("imageUri"):
        use_chief = _bool(ti.get("useChiefInTfConfig"), f"{TI}.useChiefInTfConfig")
        groups = _container_groups(project, job_id, ti, replicas, runs_images, use_chief)
    else:
        runtime = _runtime(ti)
        use_chief = _bool(ti.get("useChiefInTfConfig"), f"{TI}.useChiefInTfConfig") or _chief_runtime(runtime)
        groups = _package_groups(project, job_id, ti, configs, replicas, runtime.image, use_chief)
    scheduling = _object(ti.get("scheduling"), f"{TI}.scheduling")
    _check_fields(scheduling, SCHEDULING_FIELDS, f"{TI}.scheduling")
    max_run = _duration(scheduling.get("maxRunningTime"), f"{TI}.scheduling.maxRunningTime")
    spec = WorkloadSpec(
        name=workload_name(job_id),
        kind=WorkloadKind.BATCH,
        groups=groups,
        failure_policy=_failure_policy(labels or {}, max_run or DEFAULT_MAX_RUN_SECONDS),
    )
    try:
        validate_spec(spec)
    except SpecError as exc:
        raise ApplicationError(f"This job cannot run: {exc.field} {exc.message}.", field=TI) from exc
    return JobPlan(
        spec=spec,
        priority=_priority(scheduling.get("priority")),
        max_wait_seconds=_duration(scheduling.get("maxWaitTime"), f"{TI}.scheduling.maxWaitTime"),
        use_chief=use_chief,
    )


def workload_name(job_id: str) -> str:
    """A DNS label from the job id: lowercase, '-' for anything else, at most NAME_MAX characters,
    starting with a letter."""
    name = re.sub(r"[^a-z0-9]+", "-", job_id.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"job-{name}"
    return name[:NAME_MAX].rstrip("-")


# --- machines --------------------------------------------------------------------------------


def _replicas(ti: dict, configs: dict[str, dict]) -> list[_Replicas]:
    """Master first, then the workers, parameter servers and evaluators that the job has."""
    tier = ti.get("scaleTier") or "BASIC"
    if tier == "BASIC_TPU" or tier not in (*SCALE_TIERS, CUSTOM):
        reason = TPUS if tier == "BASIC_TPU" else "It is not a scale tier."
        choices = ", ".join((*SCALE_TIERS, CUSTOM))
        raise ApplicationError(f"'{tier}': {reason} Use one of {choices}.", field=f"{TI}.scaleTier")
    if tier != CUSTOM:
        return _tier_replicas(ti, tier, configs)
    replicas = []
    for prefix, count_field, role in KINDS:
        count = 1 if count_field is None else _count(ti.get(count_field), f"{TI}.{count_field}")
        machine = ti.get(f"{prefix}Type")
        if count and not machine:
            needs = (
                "scaleTier CUSTOM needs a masterType" if count_field is None else f"{count_field} needs it"
            )
            raise ApplicationError(f"is required: {needs}.", field=f"{TI}.{prefix}Type")
        if count:
            resources = _machine_resources(machine, configs[prefix], prefix)
            replicas.append(_Replicas(prefix, role, count, resources, configs[prefix]))
    return replicas


def _tier_replicas(ti: dict, tier: str, configs: dict[str, dict]) -> list[_Replicas]:
    for prefix, count_field, _ in KINDS:
        for name in (f"{prefix}Type", count_field):
            if name and ti.get(name) not in (None, "", 0, "0"):
                raise ApplicationError(
                    f"can only be set with scaleTier CUSTOM (not {tier}).", field=f"{TI}.{name}"
                )
        if "acceleratorConfig" in configs[prefix]:
            field = f"{TI}.{prefix}Config.acceleratorConfig"
            raise ApplicationError("needs scaleTier CUSTOM and a Compute Engine machine type.", field=field)
    machine = (
        MachineType.objects.filter(kind=MachineType.Kind.SCALE_TIER, name=tier)
        .select_related("flavor")
        .first()
    )
    if machine is None:
        raise ApplicationError(f"Scale tier {tier} is not offered here.", field=f"{TI}.scaleTier")
    resources = _shape(machine, machine.flavor.name, machine.gpu_count)
    counts = {"master": 1, "worker": machine.worker_count, "parameterServer": machine.parameter_server_count}
    return [
        _Replicas(prefix, role, counts[prefix], resources, configs[prefix])
        for prefix, _, role in KINDS
        if counts.get(prefix)
    ]


def _machine_resources(name, config: dict, prefix: str) -> Resources:
    """A Compute Engine type gets the accelerators its acceleratorConfig names (or those it is
    built with); a legacy type brings its own."""
    field = f"{TI}.{prefix}Type"
    machine = (
        MachineType.objects.exclude(kind=MachineType.Kind.SCALE_TIER)
        .filter(name=name if isinstance(name, str) else "")
        .select_related("flavor")
        .first()
    )
    if machine is None:
        offered = MachineType.objects.exclude(kind=MachineType.Kind.SCALE_TIER).values_list("name", flat=True)
        raise ApplicationError(
            f"'{name}' is not a machine type offered here ({', '.join(offered)}).", field=field
        )
    path = f"{TI}.{prefix}Config.acceleratorConfig"
    accelerator = _object(config.get("acceleratorConfig"), path)
    if not accelerator:
        return _shape(machine, machine.flavor.name, machine.gpu_count)
    _check_fields(accelerator, ACCELERATOR_FIELDS, path)
    if machine.kind == MachineType.Kind.LEGACY:
        raise ApplicationError(
            f"'{name}' is a legacy machine type with its own accelerators; choose GPUs with a Compute "
            "Engine machine type such as n1-standard-8.",
            field=path,
        )
    flavor = _accelerator_flavor(accelerator.get("type"), f"{path}.type")
    count = _count(accelerator.get("count"), f"{path}.count")
    if count < 1:
        raise ApplicationError("must be at least 1.", field=f"{path}.count")
    if machine.gpu_count and (flavor != machine.flavor.name or count != machine.gpu_count):
        raise ApplicationError(
            f"'{name}' is built with {machine.gpu_count} GPU(s) of flavor {machine.flavor.name}: ask for "
            "exactly those, or leave acceleratorConfig out.",
            field=path,
        )
    return _shape(machine, flavor, count)


def _accelerator_flavor(name, field: str) -> str:
    if isinstance(name, str) and name.startswith("TPU_"):
        raise ApplicationError(f"'{name}': {TPUS}", field=field)
    accelerator = (
        AcceleratorType.objects.filter(name=name if isinstance(name, str) else "")
        .select_related("flavor")
        .first()
    )
    if accelerator is None:
        offered = ", ".join(AcceleratorType.objects.values_list("name", flat=True))
        raise ApplicationError(f"'{name}' is not an accelerator type offered here ({offered}).", field=field)
    return accelerator.flavor.name


def _shape(machine: MachineType, flavor: str, gpus: int) -> Resources:
    return Resources(
        flavor=flavor, gpus=gpus, cpu=Decimal(machine.vcpus), memory_gib=Decimal(machine.memory_gib)
    )


def _config(ti: dict, prefix: str) -> dict:
    path = f"{TI}.{prefix}Config"
    config = _object(ti.get(f"{prefix}Config"), path)
    _check_fields(config, CONFIG_FIELDS, path, {"tpuTfVersion": TPUS})
    return config


# --- what runs -------------------------------------------------------------------------------


def _package_groups(
    project: Project,
    job_id: str,
    ti: dict,
    configs: dict[str, dict],
    replicas: list[_Replicas],
    image: str,
    use_chief: bool,
) -> tuple[ReplicaGroup, ...]:
    """Every replica runs the runner, which installs the packages and runs the module: the runtime
    image's copy, or on the local backend this repository's with the console's Python."""
    for prefix, config in configs.items():
        for name in ("imageUri", "containerCommand", "containerArgs"):
            if name in config:
                raise ApplicationError(
                    "needs a custom container: set masterConfig.imageUri (and no packageUris).",
                    field=f"{TI}.{prefix}Config.{name}",
                )
    uris = _strings(ti.get("packageUris"), f"{TI}.packageUris")
    if not uris:
        raise ApplicationError(
            "is required: the trainer's packages (or masterConfig.imageUri for a custom container).",
            field=f"{TI}.packageUris",
        )
    if len(uris) > MAX_PACKAGES:
        raise ApplicationError(f"at most {MAX_PACKAGES} packages.", field=f"{TI}.packageUris")
    for i, uri in enumerate(uris):
        _check_reachable(project, uri, f"{TI}.packageUris[{i}]")
    module = ti.get("pythonModule")
    if not isinstance(module, str) or not MODULE.fullmatch(module):
        raise ApplicationError(
            "is required with packageUris: the module to run, such as trainer.task.",
            field=f"{TI}.pythonModule",
        )
    args = ("--package-uris", ",".join(uris), "--module", module, "--", *_trainer_args(project, ti))
    env = _job_env(project, job_id, ti, use_chief)
    # Replicas and later jobs with the same packages share one virtualenv on this machine.
    venvs = Path(settings.DATA_DIR) / "local" / "venvs"
    local = LocalRun(command=LOCAL_RUNNER, args=args, env={"MLPLATFORM_VENV_CACHE": str(venvs)})
    return tuple(
        _group(replica, use_chief, image=image, command=RUNNER, args=args, env=env, local=local)
        for replica in replicas
    )


def _container_groups(
    project: Project, job_id: str, ti: dict, replicas: list[_Replicas], runs_images: bool, use_chief: bool
) -> tuple[ReplicaGroup, ...]:
    """Each replica runs its config's image (the master's by default), command and args; they have
    no local alternative."""
    master_image = replicas[0].config["imageUri"]
    if not runs_images:
        raise ApplicationError(
            "The local backend runs Python packages; custom containers need the Kubernetes backend.",
            field=f"{TI}.masterConfig.imageUri",
        )
    if ti.get("packageUris") or ti.get("pythonModule"):
        field = f"{TI}.packageUris" if ti.get("packageUris") else f"{TI}.pythonModule"
        raise ApplicationError(
            "Give packageUris and pythonModule, or masterConfig.imageUri, not both.", field=field
        )
    trainer_args = _trainer_args(project, ti)
    env = _job_env(project, job_id, ti, use_chief) | _container_env(job_id, ti)
    groups = []
    for replica in replicas:
        path = f"{TI}.{replica.prefix}Config"
        image = replica.config.get("imageUri") or master_image
        if not isinstance(image, str):
            raise ApplicationError(
                "must be an image reference such as registry/trainer:1.", field=f"{path}.imageUri"
            )
        command = _strings(replica.config.get("containerCommand"), f"{path}.containerCommand")
        own_args = _strings(replica.config.get("containerArgs"), f"{path}.containerArgs")
        if ti.get("args") and (command or own_args):
            name = "containerCommand" if command else "containerArgs"
            raise ApplicationError("cannot be set together with trainingInput.args.", field=f"{path}.{name}")
        args = [_literal(arg) for arg in own_args] if own_args else trainer_args
        groups.append(
            _group(
                replica, use_chief, image=image, command=[_literal(c) for c in command], args=args, env=env
            )
        )
    return tuple(groups)


def _group(replica: _Replicas, use_chief: bool, *, image, command, args, env, local=None) -> ReplicaGroup:
    role = "chief" if replica.role == "master" and use_chief else replica.role
    return ReplicaGroup(
        role=role,
        count=replica.count,
        image=image,
        command=tuple(command),
        args=tuple(args),
        env=dict(env),
        resources=replica.resources,
        ports=(TRAINING_PORT,),
        local=local,
    )


def _trainer_args(project: Project, ti: dict) -> list[str]:
    """trainingInput.args, then `--job-dir <jobDir>` as AI Platform appends it; literal (no `$(...)`)."""
    args = [_literal(arg) for arg in _strings(ti.get("args"), f"{TI}.args")]
    job_dir = ti.get("jobDir")
    if job_dir:
        _check_reachable(project, job_dir, f"{TI}.jobDir")
        args += ["--job-dir", _literal(job_dir)]
    return args


def _check_reachable(project: Project, uri, field: str) -> None:
    """A URI that parses, has no comma (the runner's list separator), and that a storage connection
    of the project reaches. AI Platform answers a package it cannot read with INVALID_ARGUMENT,
    so the storage 403 (which names the bucket) becomes a 400 on the field here."""
    if not isinstance(uri, str) or "," in uri:
        raise ApplicationError("must be a gs:// or s3:// URI without commas.", field=field)
    parsed = parse_uri(uri, field=field)
    try:
        connection_for_uri(project=project, uri=parsed)
    except ApplicationError as exc:
        raise ApplicationError(exc.message, field=field) from exc


def _job_env(project: Project, job_id: str, ti: dict, use_chief: bool) -> dict[str, str]:
    """What the runner (or a container) needs to write TF_CONFIG's "job" and CLOUD_ML_JOB."""
    job = {"job_id": job_id, "project": project.slug, "training_input": ti}
    return {
        "MLPLATFORM_TRAINING_JOB": _literal(json.dumps(job, separators=(",", ":"))),
        "MLPLATFORM_USE_CHIEF": "true" if use_chief else "false",
    }


def _container_env(job_id: str, ti: dict) -> dict[str, str]:
    """TF_CONFIG as the runner builds it, with the replica's own values left as `$(NAME)` references
    that the backend completes from its MLPLATFORM_* variables."""
    marks = {name: f"mlplatform-{secrets.token_hex(8)}" for name in REPLICA_REFS}
    config = trainer.tf_config(*marks.values(), ti)
    tf_config = _literal(json.dumps(config, separators=(",", ":")))
    for name, mark in marks.items():  # the role stays a JSON string; the cluster and index are JSON
        tf_config = tf_config.replace(
            mark if name == "MLPLATFORM_REPLICA_ROLE" else f'"{mark}"', f"$({name})"
        )
    job = _literal(json.dumps(config["job"], separators=(",", ":")))
    return {"TF_CONFIG": tf_config, "CLUSTER_SPEC": tf_config, "CLOUD_ML_JOB": job, "CLOUD_ML_JOB_ID": job_id}


def _literal(value: str) -> str:
    """A value both backends pass through unchanged: `$` escaped against `$(NAME)` expansion."""
    return value.replace("$", "$$")


# --- runtime versions ----------------------------------------------------------------------


def _runtime(ti: dict) -> RuntimeVersion:
    """The exact runtimeVersion/pythonVersion pair, else the runtime's any-Python row, else (no
    pythonVersion) its newest Python; with no runtimeVersion, the default row."""
    runtime = ti.get("runtimeVersion") or ""
    python = ti.get("pythonVersion") or ""
    for name, value in (("runtimeVersion", runtime), ("pythonVersion", python)):
        if not isinstance(value, str):
            raise ApplicationError("must be a string such as '2.11'.", field=f"{TI}.{name}")
    rows = RuntimeVersion.objects.filter(runtime_version=runtime)
    if runtime and not rows.exists():
        offered = sorted(
            {row for row in RuntimeVersion.objects.values_list("runtime_version", flat=True) if row}
        )
        raise ApplicationError(
            f"Runtime version '{runtime}' is not offered here ({', '.join(offered)}).",
            field=f"{TI}.runtimeVersion",
        )
    row = rows.filter(python_version=python).first() or rows.filter(python_version="").first()
    if row is None and not python:
        row = rows.first()
    if row is None and not runtime:
        row = RuntimeVersion.objects.filter(is_default=True).first()
    if row is None:
        raise ApplicationError(
            f"Python {python} is not offered with runtime version '{runtime or 'default'}'.",
            field=f"{TI}.pythonVersion",
        )
    return row


def _chief_runtime(runtime: RuntimeVersion) -> bool:
    """AI Platform names the master "chief" for package jobs on runtime 2.1 and later."""
    try:
        return tuple(int(part) for part in runtime.runtime_version.split(".")) >= CHIEF_SINCE
    except ValueError:  # no runtimeVersion (the default row): AI Platform's old default, 1.x
        return False


# --- scheduling and retries ----------------------------------------------------------------


def _duration(value, field: str) -> int | None:
    """Whole seconds (rounded up) of a google.protobuf.Duration string such as "3600s" or "1.5s"."""
    if value is None:
        return None
    match = DURATION.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ApplicationError(f'\'{value}\' is not a duration such as "3600s" or "1.5s".', field=field)
    whole, fraction = match.groups()
    seconds = int(whole) + (1 if fraction and int(fraction) else 0)  # rounded up
    if seconds <= 0:
        raise ApplicationError("must be longer than 0s.", field=field)
    return seconds


def _priority(value) -> int:
    field = f"{TI}.scheduling.priority"
    if value is None:
        return 0
    priority = _count(value, field)
    if priority > MAX_PRIORITY:
        raise ApplicationError(f"must be between 0 and {MAX_PRIORITY}.", field=field)
    return priority


def _failure_policy(labels: dict, max_run_seconds: int) -> FailurePolicy:
    retries_label = labels.get(LABEL_RETRIES, "0")
    if (
        not isinstance(retries_label, str)
        or not WHOLE.fullmatch(retries_label)
        or int(retries_label) > MAX_RETRIES
    ):
        raise ApplicationError(
            f"must be a number of retries from 0 to {MAX_RETRIES}.", field=f"labels.{LABEL_RETRIES}"
        )
    fail_fast = _exit_codes(labels, LABEL_FAIL_FAST)
    retry = _exit_codes(labels, LABEL_RETRY_CODES)
    if set(fail_fast) & set(retry):
        raise ApplicationError(
            f"shares exit codes with {LABEL_FAIL_FAST}.", field=f"labels.{LABEL_RETRY_CODES}"
        )
    if retry and not int(retries_label):
        raise ApplicationError(f"needs {LABEL_RETRIES} above 0.", field=f"labels.{LABEL_RETRY_CODES}")
    rules = [ExitCodeRule(ExitCodeAction.FAIL_JOB, fail_fast)] if fail_fast else []
    rules += [ExitCodeRule(ExitCodeAction.COUNT, retry)] if retry else []
    return FailurePolicy(
        backoff_limit=int(retries_label), rules=tuple(rules), max_run_seconds=max_run_seconds
    )


def _exit_codes(labels: dict, label: str) -> tuple[int, ...]:
    value = labels.get(label)
    if value is None:
        return ()
    codes = sorted({int(code) for code in value.split("-")}) if EXIT_CODES.fullmatch(str(value)) else []
    if not codes or codes[0] < 1 or codes[-1] > 255:
        raise ApplicationError(
            "must be exit codes from 1 to 255 joined by '-', e.g. 3-137.", field=f"labels.{label}"
        )
    return tuple(codes)


# --- JSON shapes ---------------------------------------------------------------------------


def _check_fields(value: dict, accepted: set[str], path: str, refused: dict[str, str] | None = None) -> None:
    """Refuses unknown fields, and refused ones (with their reason) unless unset or false."""
    refused = refused or {}
    for name, item in value.items():
        if name in refused and item not in (None, False, "", {}, []):
            raise ApplicationError(refused[name], field=f"{path}.{name}")
        if name not in accepted and name not in refused:
            raise ApplicationError(f"Unknown field '{name}'.", field=f"{path}.{name}")


def _object(value, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApplicationError("must be an object.", field=field)
    return value


def _strings(value, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApplicationError("must be a list of strings.", field=field)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ApplicationError("must be a string.", field=f"{field}[{i}]")
    return list(value)


def _count(value, field: str) -> int:
    """A non-negative int64 sent as a JSON number or, as proto3 JSON allows, a string ("2")."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and WHOLE.fullmatch(value))
    ):
        raise ApplicationError(f"'{value}' is not a whole number.", field=field)
    if int(value) < 0:
        raise ApplicationError("must not be negative.", field=field)
    return int(value)


def _bool(value, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApplicationError("must be true or false.", field=field)
    return value
