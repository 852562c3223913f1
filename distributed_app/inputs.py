"""An MPI job as the native API and the form send it, parsed to a frozen request. Bad input is an
ApplicationError naming the field; nothing is written before this passes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mlplatform.core.errors import ApplicationError, Refusals
from mlplatform.core.validators import dns_label_problem

MAX_WORKERS = 128
MAX_RUN_SECONDS = 7 * 24 * 3600  # as training jobs: seven days at most
NAME_MAX = 40  # leaves room for the -launcher and -worker-N suffixes of its objects
FIELDS = {
    "name",
    "image",
    "command",
    "workers",
    "slots_per_worker",
    "flavor",
    "mpi_implementation",
    "env",
    "backoff_limit",
    "max_run_seconds",
    "ttl_seconds_after_finished",
}
# Asked for by users who know pod specs; refused by name so they learn why.
PRIVILEGED = {
    "privileged",
    "securityContext",
    "security_context",
    "hostPath",
    "host_path",
    "hostNetwork",
    "host_network",
    "capabilities",
    "runAsUser",
    "run_as_user",
}


class MpiImplementation(enum.StrEnum):
    OPENMPI = "openmpi"
    INTEL = "intel"
    MPICH = "mpich"


@dataclass(frozen=True)
class DistributedJobRequest:
    name: str
    command: tuple[str, ...]
    workers: int
    slots_per_worker: int = 1
    flavor: str = "cpu"
    image: str = ""
    mpi_implementation: MpiImplementation = MpiImplementation.OPENMPI
    env: dict[str, str] = field(default_factory=dict)
    backoff_limit: int = 0
    max_run_seconds: int | None = None
    ttl_seconds_after_finished: int | None = 3600


def request_from_json(body: object) -> DistributedJobRequest:
    """The request a JSON object asks for. Raises ApplicationError naming the field."""
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be a JSON object.", field="body")
    for name in body:
        if name in PRIVILEGED:
            raise ApplicationError(
                "is not accepted: MPI pods run unprivileged, as every workload", field=name
            )
        if name not in FIELDS:
            raise ApplicationError(f"unknown field; known: {', '.join(sorted(FIELDS))}", field=name)
    refusals = Refusals()  # every field is checked on its own, to report them all
    name = refusals.check(_name, body, default="")
    command = body.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
        refusals.refuse("must be a non-empty list of strings: what every rank runs", field="command")
        command = []
    env = body.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        refusals.refuse("must map names to string values", field="env")
    implementation = refusals.check(_implementation, body.get("mpi_implementation", "openmpi"))
    request = DistributedJobRequest(
        name=name,
        command=tuple(command),
        workers=refusals.check(_whole, body, "workers", 1, MAX_WORKERS, None, required=True),
        slots_per_worker=refusals.check(_whole, body, "slots_per_worker", 1, 1024, 1),
        flavor=refusals.check(_text, body, "flavor") or "cpu",
        image=refusals.check(_text, body, "image"),
        mpi_implementation=implementation,
        env=dict(env) if isinstance(env, dict) else {},
        backoff_limit=refusals.check(_whole, body, "backoff_limit", 0, 10, 0),
        max_run_seconds=refusals.check(_whole, body, "max_run_seconds", 1, MAX_RUN_SECONDS, None),
        ttl_seconds_after_finished=refusals.check(
            _whole, body, "ttl_seconds_after_finished", 0, 30 * 24 * 3600, 3600
        ),
    )
    refusals.raise_any()
    return request


def _name(body: dict) -> str:
    name = _text(body, "name", required=True)
    if problem := dns_label_problem(name):
        raise ApplicationError(problem, field="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(f"must be at most {NAME_MAX} characters", field="name")
    return name


def _implementation(value) -> MpiImplementation:
    try:
        return MpiImplementation(value)
    except ValueError:
        choices = ", ".join(m.value for m in MpiImplementation)
        raise ApplicationError(f"must be one of {choices}", field="mpi_implementation") from None


def _text(body: dict, name: str, *, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value):
        raise ApplicationError("is required (a string)" if required else "must be a string", field=name)
    return value


def _whole(body: dict, name: str, least: int, most: int, default, *, required: bool = False):
    value = body.get(name, default)
    if value is None and not required:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # form posts and int64-as-string clients
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApplicationError(
            "is required (a whole number)" if value is None else "must be a whole number", field=name
        )
    if not least <= value <= most:
        raise ApplicationError(f"must be from {least} to {most} (got {value})", field=name)
    return value
