"""A training job's WorkloadSpec, built from its typed request (training_app.inputs) and the
catalog values looked up for it: a pure function, no queries (training_app.services looks up).

Replica groups are named by AI Platform's task types, "master" (or "chief"), "worker", "ps" and
"evaluator", so MLPLATFORM_CLUSTER already speaks TF_CONFIG's language. Machine and accelerator
names come from the catalog (quotas.MachineType, quotas.AcceleratorType), runtime images from
RuntimeVersion.

Package jobs (`packageUris` + `pythonModule`) run training_app/runtime/trainer.py in every replica:
it fetches and installs the packages, exports TF_CONFIG, CLOUD_ML_JOB and PyTorch's variables,
and execs the module. An image backend runs `python /opt/mlplatform/trainer.py` in the runtime
image, so every RuntimeVersion image must carry that file (and pip; setuptools >= 70.1 or `wheel`
to install sdists; tfrecord and tensorboardX for a trial's TensorFlow summaries), not the bare
python:* images the catalog starts with. Each group also says its local alternative (LocalRun):
this repository's copy with the console's Python, sharing one virtualenv cache. The spec is the
same whichever backend starts it.

Custom containers (`masterConfig.imageUri`) run as given and have no local alternative. Their
TF_CONFIG, CLUSTER_SPEC, CLOUD_ML_JOB and CLOUD_ML_JOB_ID are set as env values that the backend
completes from the injected MLPLATFORM_* variables (`$(NAME)`). Exact: "task", "job",
"environment", and "cluster" for jobs without evaluators. Not exact: evaluators appear in
TF_CONFIG's "cluster" (AI Platform leaves them out; nothing can filter them in an env value), and
CLUSTER_SPEC equals TF_CONFIG. Not set: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK (a worker's rank
is its index + 1, which env expansion cannot compute; read CLUSTER_SPEC instead).

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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

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
from mlplatform.quotas.selectors import Machine
from training_app.inputs import CUSTOM, TI, Replicas, TrainingInput
from training_app.jobs import NAME_MAX, JobPlan, workload_name
from training_app.runtime import trainer

RUNNER = ("python", "/opt/mlplatform/trainer.py")  # in the runtime image
LOCAL_RUNNER = (sys.executable, str(Path(trainer.__file__).resolve()))  # ours, the console's Python
TRAINING_PORT = 2222  # AI Platform's replicas listen on it; addresses in TF_CONFIG end with it
DEFAULT_MAX_RUN_SECONDS = 7 * 24 * 3600  # AI Platform's default maxRunningTime: seven days
MAX_RETRIES = 10
WHOLE = re.compile(r"[0-9]{1,18}")  # an int64 that is not negative, as a string
EXIT_CODES = re.compile(r"[0-9]{1,3}(-[0-9]{1,3})*")
CHIEF_SINCE = (2, 1)  # runtime versions from 2.1 name the master "chief" in TF_CONFIG
SCALE_TIER, LEGACY, PREDICTION = "scale_tier", "legacy", "prediction"  # quotas.MachineType.Kind values
NOT_FOR_TRAINING = (SCALE_TIER, PREDICTION)  # a tier is scaleTier's; mls1 types serve predictions only

LABEL_RETRIES = "mlplatform-retries"
LABEL_FAIL_FAST = "mlplatform-fail-fast-exit-codes"
LABEL_RETRY_CODES = "mlplatform-retry-exit-codes"


@dataclass(frozen=True)
class Catalog:
    """What the builder needs from the catalog: machine types and scale tiers by name, the
    accelerators' flavors, and for package jobs the runtime version's row."""

    machines: Mapping[str, Machine]
    accelerators: Mapping[str, str]  # Google accelerator name -> flavor
    runtime_image: str = ""
    runtime_version: str = ""  # '' for the default row
    venv_cache: str = ""  # where the local runner keeps its virtualenvs


@dataclass(frozen=True)
class TrialRun:
    """One trial of a tuning job: its id (AI Platform's trialId, from 1) and `--name=value` args."""

    id: str
    args: tuple[str, ...]


PROBE = TrialRun(id="1", args=())


def job_plan(
    request: TrainingInput,
    *,
    job_id: str,
    project: str,
    labels: Mapping[str, str],
    catalog: Catalog,
    trial: TrialRun | None = None,
) -> JobPlan:
    """The workload of a job (or of one trial of a tuning job) and how it queues. Raises
    ApplicationError (400) with `field` the JSON path of the offending input, e.g.
    trainingInput.workerType. A tuning job's own plan is a group's (JobPlan.group), its spec the
    shape every trial has (built for trial 1 without values): each trial is planned with its own."""
    if request.hyperparameters and trial is None:
        plan = job_plan(request, job_id=job_id, project=project, labels=labels, catalog=catalog, trial=PROBE)
        return replace(plan, group=True)
    if trial:  # as AI Platform: the trial's values after the job's args, its own job-dir folder
        job_dir = f"{request.job_dir.rstrip('/')}/{trial.id}" if request.job_dir else ""
        request = replace(request, args=(*request.args, *trial.args), job_dir=job_dir)
    replicas = _machines(request, catalog)
    if request.package is None:
        use_chief = request.use_chief_in_tf_config
        groups = _container_groups(request, replicas, job_id, project, use_chief, trial)
    else:
        use_chief = request.use_chief_in_tf_config or _chief_runtime(catalog.runtime_version)
        groups = _package_groups(request, replicas, job_id, project, use_chief, catalog, trial)
    scheduling = request.scheduling
    spec = WorkloadSpec(
        name=_trial_name(job_id, trial.id) if trial else workload_name(job_id),
        kind=WorkloadKind.BATCH,
        groups=groups,
        failure_policy=_failure_policy(labels, scheduling.max_running_seconds or DEFAULT_MAX_RUN_SECONDS),
    )
    try:
        validate_spec(spec)
    except SpecError as exc:
        raise ApplicationError(f"This job cannot run: {exc.field} {exc.message}.", field=TI) from exc
    return JobPlan(spec=spec, priority=scheduling.priority, max_wait_seconds=scheduling.max_wait_seconds)


# --- machines --------------------------------------------------------------------------------


def _machines(request: TrainingInput, catalog: Catalog) -> list[tuple[Replicas, int, Resources]]:
    """(replica kind, count, resources), the master first, for the kinds that have replicas."""
    if request.scale_tier != CUSTOM:
        tier = catalog.machines.get(request.scale_tier)
        if tier is None or tier.kind != SCALE_TIER:
            field = f"{TI}.scaleTier"
            raise ApplicationError(f"Scale tier {request.scale_tier} is not offered here.", field=field)
        resources = _shape(tier, tier.flavor, tier.gpus)
        counts = {"master": 1, "worker": tier.workers, "ps": tier.parameter_servers}
        return [(r, counts[r.role], resources) for r in request.replicas if counts.get(r.role)]
    return [(replica, replica.count, _machine_resources(replica, catalog)) for replica in request.replicas]


def _machine_resources(replica: Replicas, catalog: Catalog) -> Resources:
    """A Compute Engine type gets the accelerators its acceleratorConfig names (or those it is
    built with); a legacy type brings its own."""
    name = replica.machine_type
    machine = catalog.machines.get(name)
    if machine is None or machine.kind in (SCALE_TIER, PREDICTION):
        offered = ", ".join(
            m.name for m in catalog.machines.values() if m.kind not in (SCALE_TIER, PREDICTION)
        )
        raise ApplicationError(
            f"'{name}' is not a machine type offered here ({offered}).", field=f"{replica.path}Type"
        )
    accelerator = replica.config.accelerator
    if accelerator is None:
        return _shape(machine, machine.flavor, machine.gpus)
    path = f"{replica.path}Config.acceleratorConfig"
    if machine.kind == LEGACY:
        raise ApplicationError(
            f"'{name}' is a legacy machine type with its own accelerators; choose GPUs with a Compute "
            "Engine machine type such as n1-standard-8.",
            field=path,
        )
    flavor = catalog.accelerators.get(accelerator.type)
    if flavor is None:
        offered = ", ".join(catalog.accelerators)
        raise ApplicationError(
            f"'{accelerator.type}' is not an accelerator type offered here ({offered}).", field=f"{path}.type"
        )
    if machine.gpus and (flavor != machine.flavor or accelerator.count != machine.gpus):
        raise ApplicationError(
            f"'{name}' is built with {machine.gpus} GPU(s) of flavor {machine.flavor}: ask for "
            "exactly those, or leave acceleratorConfig out.",
            field=path,
        )
    return _shape(machine, flavor, accelerator.count)


def _shape(machine: Machine, flavor: str, gpus: int) -> Resources:
    return Resources(flavor=flavor, gpus=gpus, cpu=machine.vcpus, memory_gib=machine.memory_gib)


def _chief_runtime(runtime_version: str) -> bool:
    """AI Platform names the master "chief" for package jobs on runtime 2.1 and later."""
    try:
        return tuple(int(part) for part in runtime_version.split(".")) >= CHIEF_SINCE
    except ValueError:  # no runtimeVersion (the default row): AI Platform's old default, 1.x
        return False


# --- what runs -------------------------------------------------------------------------------


def _trial_name(job_id: str, trial_id: str) -> str:
    """A trial's workload: the job's name, cut to leave room for `-trial-<id>`."""
    suffix = f"-trial-{trial_id}"
    return f"{workload_name(job_id)[: NAME_MAX - len(suffix)].rstrip('-')}{suffix}"


def _package_groups(
    request: TrainingInput,
    replicas: list,
    job_id: str,
    project: str,
    use_chief: bool,
    catalog: Catalog,
    trial: TrialRun | None,
) -> tuple[ReplicaGroup, ...]:
    """Every replica runs the runner, which installs the packages and runs the module: the runtime
    image's copy, or on the local backend ours with the console's Python."""
    uris, module = ",".join(request.package.uris), request.package.module
    args = ("--package-uris", uris, "--module", module, "--", *_trainer_args(request))
    env = _job_env(request, job_id, project, use_chief, trial)
    # Replicas and later jobs with the same packages share one virtualenv on this machine.
    local = LocalRun(command=LOCAL_RUNNER, args=args, env={"MLPLATFORM_VENV_CACHE": catalog.venv_cache})
    return tuple(
        _group(replica, count, resources, use_chief, catalog.runtime_image, RUNNER, args, env, local)
        for replica, count, resources in replicas
    )


def _container_groups(
    request: TrainingInput, replicas: list, job_id: str, project: str, use_chief: bool, trial: TrialRun | None
) -> tuple[ReplicaGroup, ...]:
    """Each replica runs its config's image (the master's by default), command and args; they have
    no local alternative."""
    env = _job_env(request, job_id, project, use_chief, trial) | _container_env(request, job_id, trial)
    groups = []
    for replica, count, resources in replicas:
        config = replica.config
        image = config.image_uri or request.master.config.image_uri
        command = [_literal(part) for part in config.container_command]
        args = [_literal(arg) for arg in config.container_args] or _trainer_args(request)
        if trial and config.container_args:  # a trial's values follow the container's own args
            args += [_literal(arg) for arg in trial.args]
        groups.append(_group(replica, count, resources, use_chief, image, command, args, env))
    return tuple(groups)


def _group(
    replica: Replicas,
    count: int,
    resources: Resources,
    use_chief: bool,
    image: str,
    command,
    args,
    env: dict[str, str],
    local: LocalRun | None = None,
) -> ReplicaGroup:
    role = "chief" if replica.role == "master" and use_chief else replica.role
    return ReplicaGroup(
        role=role,
        count=count,
        image=image,
        command=tuple(command),
        args=tuple(args),
        env=dict(env),
        resources=resources,
        ports=(TRAINING_PORT,),
        local=local,
    )


def _trainer_args(request: TrainingInput) -> list[str]:
    """trainingInput.args, then `--job-dir <jobDir>` as AI Platform appends it; literal (no `$(...)`)."""
    args = [_literal(arg) for arg in request.args]
    if request.job_dir:
        args += ["--job-dir", _literal(request.job_dir)]
    return args


def _job_env(
    request: TrainingInput, job_id: str, project: str, use_chief: bool, trial: TrialRun | None
) -> dict[str, str]:
    """What the runner (or a container) needs to write TF_CONFIG's "job" and CLOUD_ML_JOB, and a
    trial's id (TF_CONFIG's task.trial and CLOUD_ML_TRIAL_ID)."""
    job = {"job_id": job_id, "project": project, "training_input": request.json}
    env = {
        "MLPLATFORM_TRAINING_JOB": _literal(json.dumps(job, separators=(",", ":"))),
        "MLPLATFORM_USE_CHIEF": "true" if use_chief else "false",
    }
    return env | ({"MLPLATFORM_TRIAL_ID": trial.id} if trial else {})


def _container_env(request: TrainingInput, job_id: str, trial: TrialRun | None) -> dict[str, str]:
    """TF_CONFIG as the runner builds it, with the replica's own values left as `$(NAME)` references
    that the backend completes from its MLPLATFORM_* variables."""
    # Unguessable stand-ins for the cluster, the role and the index (tf_config's order).
    marks = {name: f"mlplatform-{secrets.token_hex(8)}" for name in trainer.REPLICA_VARIABLES}
    config = trainer.tf_config(*marks.values(), request.json, trial=trial.id if trial else "")
    tf_config = _literal(json.dumps(config, separators=(",", ":")))
    for name, mark in marks.items():  # the role stays a JSON string; the cluster and the index are JSON
        quoted = mark if name == "MLPLATFORM_REPLICA_ROLE" else f'"{mark}"'
        tf_config = tf_config.replace(quoted, f"$({name})")
    job = _literal(json.dumps(config["job"], separators=(",", ":")))
    env = {"TF_CONFIG": tf_config, "CLUSTER_SPEC": tf_config, "CLOUD_ML_JOB": job, "CLOUD_ML_JOB_ID": job_id}
    return env | ({"CLOUD_ML_TRIAL_ID": trial.id} if trial else {})


def _literal(value: str) -> str:
    """A value both backends pass through unchanged: `$` escaped against `$(NAME)` expansion."""
    return value.replace("$", "$$")


# --- retries -------------------------------------------------------------------------------


def _failure_policy(labels: Mapping[str, str], max_run_seconds: int) -> FailurePolicy:
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


def _exit_codes(labels: Mapping[str, str], label: str) -> tuple[int, ...]:
    value = labels.get(label)
    if value is None:
        return ()
    codes = sorted({int(code) for code in value.split("-")}) if EXIT_CODES.fullmatch(str(value)) else []
    if not codes or codes[0] < 1 or codes[-1] > 255:
        raise ApplicationError(
            "must be exit codes from 1 to 255 joined by '-' (a list, not a range: 3-137 is 3 and 137).",
            field=f"labels.{label}",
        )
    return tuple(codes)
