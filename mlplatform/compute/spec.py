"""WorkloadSpec: what a notebook, a training job or a model version asks the platform to run.

Pure dataclasses, no models (the name rules are core's): apps build them, admission counts them,
backends turn them into Kubernetes objects or local processes. `validate_spec` refuses what must
never be queued.
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from mlplatform.core.validators import DNS_LABEL, DNS_LABEL_MAX
from mlplatform.quotas.amounts import Amounts

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\Z")


class WorkloadKind(enum.StrEnum):
    BATCH = "batch"  # runs to completion: training, batch prediction
    SERVICE = "service"  # serves until stopped: online prediction
    NOTEBOOK = "notebook"  # a JupyterLab with a home volume


class ExitCodeAction(enum.StrEnum):
    FAIL_JOB = "FailJob"  # fail fast: retrying cannot help
    IGNORE = "Ignore"  # retry without counting against the backoff limit
    COUNT = "Count"  # retry, counting against the backoff limit


@dataclass(frozen=True)
class ExitCodeRule:
    action: ExitCodeAction
    exit_codes: tuple[int, ...]


@dataclass(frozen=True)
class FailurePolicy:
    """batch/v1 Job semantics: `backoff_limit` retries, exit-code rules, a maximum run time."""

    backoff_limit: int = 0
    rules: tuple[ExitCodeRule, ...] = ()
    max_run_seconds: int | None = None
    ttl_after_finished_seconds: int | None = 3600


@dataclass(frozen=True, slots=True)
class Resources(Amounts):
    """What one replica gets: an amount of `flavor`. GPUs come from the flavor; CPU and memory
    default to one vCPU and 2 GiB."""

    gpus: int = 0
    cpu: Decimal = Decimal(1)
    memory_gib: Decimal = Decimal(2)
    flavor: str = "cpu"


@dataclass(frozen=True)
class SecretRef:
    """An environment variable whose value comes from a Secret, never written into a manifest."""

    env: str
    secret: str
    key: str


@dataclass(frozen=True)
class Volume:
    """A scratch folder, or (persistent) a volume named after the workload's spec name and the
    volume's name, that outlives the workload: a notebook's home across stop and start."""

    name: str
    mount_path: str
    size_gib: int = 0  # 0: scratch (emptyDir); more: a persistent volume claim
    persistent: bool = False


@dataclass(frozen=True)
class LocalRun:
    """What the local backend runs for a group instead of its image: a process of this machine
    (its Python, a loopback port in `$(MLPLATFORM_PORT)`), with `env` added to the group's. A spec
    says it once, whatever backend will run it; image backends ignore it."""

    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplicaGroup:
    role: str  # master, worker, ps, evaluator, server, notebook
    count: int
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    secret_env: tuple[SecretRef, ...] = ()
    resources: Resources = field(default_factory=lambda: Resources(flavor="cpu"))
    ports: tuple[int, ...] = ()  # the first is the replica's address in MLPLATFORM_CLUSTER
    volumes: tuple[Volume, ...] = ()
    readiness_path: str | None = None  # HTTP GET on the first port says the replica is ready
    max_count: int | None = None  # services: autoscale from `count` up to this many
    local: LocalRun | None = None  # the local backend runs this instead of the image's command

    @property
    def most(self) -> int:
        """The most replicas it may run at once: what quota is counted for."""
        return max(self.count, self.max_count or self.count)


@dataclass(frozen=True)
class Mpi:
    """An MPI gang: one `launcher` replica runs mpirun over the `worker` group's replicas, each with
    `slots` ranks. Image backends build mpi-operator's shape from it (ssh keys, a hostfile); the
    local backend runs the groups as they are."""

    implementation: str = "openmpi"  # openmpi, intel, mpich: the hostfile's and mpirun's dialect
    slots: int = 1
    launcher: str = "launcher"
    worker: str = "worker"


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    kind: WorkloadKind
    groups: tuple[ReplicaGroup, ...]
    failure_policy: FailurePolicy = field(default_factory=FailurePolicy)
    storage: tuple[str, ...] | None = None  # the project's storage connections to wire in; None: all
    mpi: Mpi | None = None  # an MPI gang (launcher + workers), for backends that build its shape

    @property
    def replicas(self) -> int:
        """Replicas it starts with (autoscaled groups at their minimum)."""
        return sum(group.count for group in self.groups)

    def requests(self) -> dict[str, Amounts]:
        """All replicas together, per flavor: the unit quota is counted and admitted in. An
        autoscaled group counts as many replicas as it may grow to, so no autoscaler can take
        the cluster past what the quota gave."""
        totals: dict[str, Amounts] = {}
        for group in self.groups:
            r = group.resources
            totals[r.flavor] = totals.get(r.flavor, Amounts()) + Amounts.of(r) * group.most
        return totals


class SpecError(ValueError):
    """A spec that must not be queued; `field` is a dotted path to the offending input."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def validate_spec(spec: WorkloadSpec) -> None:
    """Refuse bad names, counts, resources and ports before anything is queued. Raises SpecError.

    Flavors and quotas are checked by the caller, which knows the catalog.
    """
    if not DNS_LABEL.match(spec.name) or len(spec.name) > DNS_LABEL_MAX:
        raise SpecError("name", f"'{spec.name}' is not a DNS-1123 label")
    if not spec.groups:
        raise SpecError("groups", "a workload needs at least one replica group")
    roles = [group.role for group in spec.groups]
    if len(set(roles)) != len(roles):
        raise SpecError("groups", "replica roles must be unique")
    for i, group in enumerate(spec.groups):
        _validate_group(f"groups[{i}]", group)
    if spec.mpi is not None:
        _validate_mpi(spec.mpi, {group.role: group for group in spec.groups})
    policy = spec.failure_policy
    if policy.backoff_limit < 0:
        raise SpecError("failure_policy.backoff_limit", "must not be negative")
    if policy.max_run_seconds is not None and policy.max_run_seconds <= 0:
        raise SpecError("failure_policy.max_run_seconds", "must be positive")


def _validate_mpi(mpi: Mpi, groups: dict[str, ReplicaGroup]) -> None:
    if mpi.implementation not in ("openmpi", "intel", "mpich"):
        raise SpecError("mpi.implementation", f"'{mpi.implementation}' is not openmpi, intel or mpich")
    if mpi.slots < 1:
        raise SpecError("mpi.slots", f"must be at least 1 (got {mpi.slots})")
    for role in (mpi.launcher, mpi.worker):
        if role not in groups:
            raise SpecError("mpi", f"names replica group '{role}', which the spec does not have")
    if groups[mpi.launcher].count != 1:
        raise SpecError("mpi.launcher", "an MPI job has exactly one launcher")


def _validate_group(path: str, group: ReplicaGroup) -> None:
    if not DNS_LABEL.match(group.role):
        raise SpecError(f"{path}.role", f"'{group.role}' is not a DNS-1123 label")
    if group.count < 1:
        raise SpecError(f"{path}.count", f"must be at least 1 (got {group.count})")
    if group.max_count is not None and group.max_count < group.count:
        raise SpecError(f"{path}.max_count", f"must be at least count ({group.count}; got {group.max_count})")
    if not group.image:
        raise SpecError(f"{path}.image", "is required")
    r = group.resources
    if r.gpus < 0 or r.cpu <= 0 or r.memory_gib <= 0:
        raise SpecError(f"{path}.resources", "GPUs must not be negative; CPU and memory must be positive")
    for name in [*group.env, *(ref.env for ref in group.secret_env)]:
        if not ENV_NAME.match(name):
            raise SpecError(f"{path}.env", f"'{name}' is not a valid environment variable name")
    for port in group.ports:
        if not 1 <= port <= 65535:
            raise SpecError(f"{path}.ports", f"{port} is not a port number")
    for volume in group.volumes:
        if not volume.mount_path.startswith("/") or ".." in volume.mount_path.split("/"):
            raise SpecError(f"{path}.volumes", f"'{volume.mount_path}' is not an absolute mount path")


# --- JSON ------------------------------------------------------------------------------------
# A Workload row keeps its spec as JSON; these two are exact inverses for every valid spec.


def spec_to_dict(spec: WorkloadSpec) -> dict:
    """Plain JSON types: Decimals as strings, tuples as lists, enums as their values."""
    return _plain(asdict(spec))


def spec_from_dict(data: dict) -> WorkloadSpec:
    """Rebuild a spec from `spec_to_dict`'s output or an API body. Raises SpecError on bad shape."""
    try:
        policy = data.get("failure_policy") or {}
        return WorkloadSpec(
            name=data["name"],
            kind=WorkloadKind(data["kind"]),
            groups=tuple(_group_from_dict(group) for group in data["groups"]),
            failure_policy=FailurePolicy(
                backoff_limit=int(policy.get("backoff_limit", 0)),
                rules=tuple(
                    ExitCodeRule(action=ExitCodeAction(rule["action"]), exit_codes=tuple(rule["exit_codes"]))
                    for rule in policy.get("rules", ())
                ),
                max_run_seconds=policy.get("max_run_seconds"),
                ttl_after_finished_seconds=policy.get("ttl_after_finished_seconds", 3600),
            ),
            storage=None if data.get("storage") is None else tuple(str(name) for name in data["storage"]),
            mpi=None if data.get("mpi") is None else Mpi(**data["mpi"]),
        )
    except SpecError:
        raise
    except KeyError as exc:
        raise SpecError(str(exc.args[0]), "is required") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise SpecError("spec", str(exc)) from None


def _group_from_dict(data: dict) -> ReplicaGroup:
    resources = data.get("resources") or {}
    return ReplicaGroup(
        role=data["role"],
        count=int(data.get("count", 1)),
        image=data.get("image", ""),
        command=tuple(data.get("command", ())),
        args=tuple(data.get("args", ())),
        env=dict(data.get("env") or {}),
        secret_env=tuple(SecretRef(**ref) for ref in data.get("secret_env", ())),
        resources=Resources(
            flavor=resources.get("flavor", "cpu"),
            gpus=int(resources.get("gpus", 0)),
            cpu=Decimal(str(resources.get("cpu", 1))),
            memory_gib=Decimal(str(resources.get("memory_gib", 2))),
        ),
        ports=tuple(int(port) for port in data.get("ports", ())),
        volumes=tuple(Volume(**volume) for volume in data.get("volumes", ())),
        readiness_path=data.get("readiness_path"),
        max_count=None if data.get("max_count") is None else int(data["max_count"]),
        local=_local_from_dict(data.get("local")),
    )


def _local_from_dict(data: dict | None) -> LocalRun | None:
    if data is None:
        return None
    return LocalRun(
        command=tuple(data.get("command", ())),
        args=tuple(data.get("args", ())),
        env=dict(data.get("env") or {}),
    )


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value
