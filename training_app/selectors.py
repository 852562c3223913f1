"""Reads for training jobs."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from mlplatform.compute.models import Workload
from mlplatform.compute.selectors import with_queue_positions
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.gcp.filtering import field, map_field, parse_filter
from mlplatform.gcp.proto import timestamp
from training_app import tuning
from training_app.hyperparameters import HyperparameterSpec, ParameterSpec
from training_app.inputs import training_input_from_json
from training_app.models import Job, RuntimeVersion, Trial


def _state(name: str, op: str, value: str) -> Q:
    """`state` is the workload's, in AI Platform's names (PREPARING is ADMITTED or STARTING)."""
    if value not in Job.State.values or op not in ("=", "!=", ":"):
        raise ApplicationError(
            f"Filter state with = or != and one of {', '.join(Job.State.values)}.", field="filter"
        )
    q = Q(workload__state__in=[w for w, j in Job.STATES.items() if j == value])
    return ~q if op == "!=" else q


JOB_FILTERS = {"state": _state, "labels": map_field("labels"), "jobId": field("job_id")}


def jobs_list(*, project: Project, filter_text: str = "", kind: str | None = None) -> QuerySet[Job]:
    """The project's jobs (of one `kind`, e.g. trainingInput, or all) matching an AI Platform
    filter such as `state=RUNNING AND labels.team=nlp`."""
    jobs = Job.objects.filter(project=project).select_related("workload", "project")
    if kind is not None:
        jobs = jobs.filter(kind=kind)
    return jobs.filter(parse_filter(filter_text, JOB_FILTERS))


def job_get(*, project: Project, job_id: str) -> Job:
    """One job with its workload and queue position; NOT_FOUND in Google's words otherwise."""
    job = Job.objects.filter(project=project, job_id=job_id).select_related("workload", "project").first()
    if job is None:
        raise ApplicationError(f"Job '{job_id}' was not found.", code=ErrorCode.NOT_FOUND)
    with_queue_positions([job.workload])
    return job


def runtime_version_for(*, runtime_version: str, python_version: str) -> RuntimeVersion:
    """The exact runtimeVersion/pythonVersion pair, else the runtime's any-Python row, else (no
    pythonVersion) its newest Python; with no runtimeVersion, the default row. Raises
    ApplicationError naming trainingInput.runtimeVersion or .pythonVersion when none is offered."""
    rows = RuntimeVersion.objects.filter(runtime_version=runtime_version)
    if runtime_version and not rows.exists():
        offered = sorted(
            {row for row in RuntimeVersion.objects.values_list("runtime_version", flat=True) if row},
            key=version_key,
        )
        raise ApplicationError(
            f"Runtime version '{runtime_version}' is not offered here ({', '.join(offered)}).",
            field="trainingInput.runtimeVersion",
        )
    row = rows.filter(python_version=python_version).first() or rows.filter(python_version="").first()
    if row is None and not python_version:
        row = max(rows, key=lambda r: version_key(r.python_version), default=None)
    if row is None and not runtime_version:
        row = RuntimeVersion.objects.filter(is_default=True).first()
    if row is None:
        raise ApplicationError(
            f"Python {python_version} is not offered with runtime version '{runtime_version or 'default'}'.",
            field="trainingInput.pythonVersion",
        )
    return row


def runtime_versions() -> list[RuntimeVersion]:
    """The offered runtimes for a form: the default first, then newest first by version number
    (2.11 before 2.8), each runtime's newest Python first."""
    rows = sorted(
        RuntimeVersion.objects.all(),
        key=lambda r: (version_key(r.runtime_version), version_key(r.python_version)),
    )
    return sorted(reversed(rows), key=lambda r: not r.is_default)


def version_key(version: str) -> tuple[int, ...]:
    """A dotted version as numbers, to sort as versions: 2.8 < 2.11."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


# --- tuning jobs -----------------------------------------------------------------------------


def job_tuning_spec(job: Job) -> HyperparameterSpec | None:
    """The job's HyperparameterSpec; None for a job that is not a tuning job."""
    if job.kind != "trainingInput" or not (job.input or {}).get("hyperparameters"):
        return None
    return training_input_from_json(job.input).hyperparameters


def trials_of(job: Job) -> list[Trial]:
    """A tuning job's trials by number, with their workloads."""
    return list(job.trials.select_related("workload").order_by("number"))


def trial_record(trial: Trial) -> tuning.TrialRecord:
    """The trial as the search and trainingOutput read it."""
    workload = trial.workload
    return tuning.TrialRecord(
        number=trial.number,
        params=trial.params,
        state=trial.state,
        objective=trial.objective,
        intermediate={int(step): value for step, value in trial.intermediate.items()},
        system_attrs=trial.system_attrs,
        start_time=timestamp(workload.started_at) or "",
        end_time=(timestamp(workload.finished_at) or "") if trial.state != Trial.State.ACTIVE else "",
        live_state=Job.STATES[workload.state],
    )


def tuning_output(job: Job, spec: HyperparameterSpec, trials: list[Trial] | None = None) -> dict:
    """trainingOutput's tuning fields (training_app.tuning.training_output), best trial first once
    the job ended; and the ML units of all its trials."""
    trials = trials_of(job) if trials is None else trials
    output = tuning.training_output(spec, [trial_record(t) for t in trials], ended=job.workload.is_finished)
    consumed = sum(float(t.workload.gpu_hours) for t in trials)
    return {"consumedMLUnits": consumed, **output}


def studies_to_advance() -> list[Job]:
    """Tuning jobs whose group has not ended, or with a trial whose outcome is not read yet."""
    unfinished = Q(workload__kind=Workload.Kind.GROUP) & ~Q(workload__state__in=Workload.FINISHED)
    return list(
        Job.objects.filter(unfinished | Q(trials__state=Trial.State.ACTIVE))
        .select_related("workload", "project", "created_by")
        .distinct()
    )


def trials_page(job: Job, spec: HyperparameterSpec, trials: list[Trial] | None = None) -> dict:
    """The job page's trials: trainingOutput's rows (best first once the job ended), each with
    its workload for its logs, and the charts' data (the objective per trial, and per parameter)."""
    trials = trials_of(job) if trials is None else trials
    output = tuning_output(job, spec, trials)
    workloads = {t.trial_id: t.workload for t in trials}
    messages = {t.trial_id: t.message for t in trials}
    rows = [
        {
            **row,
            "values": [_shown(p, row["hyperparameters"][p.name]) for p in spec.params],
            "workload": workloads[row["trialId"]],
            "message": messages[row["trialId"]],
        }
        for row in output["trials"]
    ]
    chart = {
        "goal": spec.goal,
        "tag": spec.metric_tag,
        "params": [
            {
                "name": p.name,
                "type": p.type,
                "log": p.scale_type != "NONE" and p.type in ("DOUBLE", "INTEGER"),
            }
            | ({"categories": list(p.categorical_values)} if p.type == "CATEGORICAL" else {})
            for p in spec.params
        ],
        "trials": sorted(
            (
                {
                    "id": int(row["trialId"]),
                    "state": row["state"],
                    "stoppedEarly": row.get("isTrialStoppedEarly", False),
                    "objective": row["finalMetric"]["objectiveValue"] if "finalMetric" in row else None,
                    "params": {
                        p.name: row["hyperparameters"][p.name]
                        if p.type == "CATEGORICAL"
                        else float(row["hyperparameters"][p.name])
                        for p in spec.params
                    },
                }
                for row in output["trials"]
            ),
            key=lambda t: t["id"],
        ),
    }
    return {
        "rows": rows,
        "chart": chart,
        "completed": int(output["completedTrialCount"]),
        "max_trials": spec.max_trials,
        "params": [p.name for p in spec.params],
        "metric_tag": spec.metric_tag,
        "goal": spec.goal,
        "algorithm": {"GRID_SEARCH": "grid", "RANDOM_SEARCH": "random"}.get(spec.algorithm, "Bayesian (TPE)"),
    }


def _shown(param: ParameterSpec, value: str) -> str:
    """A trial's value as the page shows it: doubles to 6 significant digits (the API keeps all)."""
    return f"{float(value):.6g}" if param.type == "DOUBLE" else value
