"""The kinds of job that `projects.jobs` holds, and the registry that says which app builds each.

AI Platform's jobs collection holds training jobs (`trainingInput`) and batch prediction jobs
(`predictionInput`). A job's id, state, labels, listing, filter, paging, cancel and patch of labels
are the same for both (models.Job, selectors, services, apis): only turning its input into a
WorkloadSpec, and what its output says, differ. The app that builds a kind registers a JobKind
here in its AppConfig.ready(): this app for trainingInput, prediction_app for predictionInput.
Until one registers, a body with that input is refused naming the field, and nothing is written.

Why here and not under mlplatform/: the jobs table, its `ml v1` routes and its pages are this
app's already, and mlplatform/ (which never imports an app) would gain a domain table and a
migration moving its rows. prediction_app depends on this app for its jobs, never the reverse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mlplatform.compute.spec import WorkloadSpec
from mlplatform.core.errors import ApplicationError

# The Job message's inputs, and what Google's docs call the jobs that have them.
INPUTS = {"trainingInput": "Training jobs", "predictionInput": "Batch prediction jobs"}
OUTPUTS = {"trainingOutput", "predictionOutput"}


@dataclass(frozen=True)
class JobPlan:
    """What a job asks of the platform: its workload and how it queues."""

    spec: WorkloadSpec
    priority: int = 0  # 0..1000: bigger runs first
    max_wait_seconds: int | None = None  # fail if not running by then
    # The job is a group of workloads that its kind's `advance` submits (a tuning job's trials, each
    # like `spec` with its own values): the job's own workload is the group, which asks for nothing.
    group: bool = False


@dataclass(frozen=True)
class JobKind:
    input_field: str  # the Job field holding its input: trainingInput, predictionInput
    output_field: str  # the Job field the kind answers with: trainingOutput, predictionOutput
    plan: Callable[..., JobPlan]  # (project=, job_id=, input=, labels=) -> JobPlan, or ApplicationError
    output: Callable[..., dict]  # (job) -> the output field's body
    page: str = ""  # the URL name of a job's page: reversed with project and job_id
    title: str = ""  # what the Jobs list calls the kind: Training, Batch prediction
    progress: Callable[..., dict] | None = None  # (job) -> {percent, rows, rows_known, errors} for its page
    # (job) -> None: submit what a group job runs next and move its group's state (JobPlan.group);
    # called in the transaction that creates the job and on every pass after (it locks the group).
    advance: Callable[..., None] | None = None


_kinds: dict[str, JobKind] = {}
NAME_MAX = 40


def workload_name(job_id: str) -> str:
    """The workload's name for a job of any kind: a DNS label from the job id (lowercase, '-' for
    anything else, at most NAME_MAX characters, starting with a letter)."""
    name = re.sub(r"[^a-z0-9]+", "-", job_id.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"job-{name}"
    return name[:NAME_MAX].rstrip("-")


def register_job_kind(kind: JobKind) -> None:
    """Called from an app's AppConfig.ready(); registering the same input again replaces it."""
    if kind.input_field not in INPUTS:
        raise ValueError(f"{kind.input_field!r} is not an input of Job: use one of {', '.join(INPUTS)}")
    _kinds[kind.input_field] = kind


def job_kind(input_field: str) -> JobKind:
    return _kinds[input_field]


def job_kinds() -> list[JobKind]:
    """The kinds registered here, in the order of INPUTS."""
    return [_kinds[name] for name in INPUTS if name in _kinds]


def job_input(body: dict) -> tuple[JobKind, dict]:
    """The kind of job a Job body asks for and its input. Raises ApplicationError naming the
    field: none or two inputs, one that is not an object, or one that no app builds here."""
    given = [name for name in INPUTS if body.get(name) is not None]
    if len(given) > 1:
        raise ApplicationError(f"Give one of {' or '.join(given)}, not both.", field=given[1])
    if not given:
        offered = " or ".join(_kinds) or "an input"
        raise ApplicationError(
            f"is required: the job's {offered}.", field=next(iter(_kinds), "trainingInput")
        )
    name = given[0]
    if name not in _kinds:
        raise ApplicationError(f"{INPUTS[name]} are not supported here yet.", field=name)
    if not isinstance(body[name], dict):
        raise ApplicationError("must be an object.", field=name)
    return _kinds[name], body[name]
