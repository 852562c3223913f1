"""The search of a tuning job: Optuna's samplers and median pruner over a HyperparameterSpec.

Pure: a study is rebuilt in memory from the job's trial records on every pass and asked for
the next suggestions; nothing of Optuna's is stored. The records (our own rows) are the one
truth that the API, the page and a restarted worker read, so a suggestion is persisted with its
workload in one transaction and no second schema (Optuna's RDBStorage tables, outside Django's
migrations, with their own connections) is needed.

Algorithms: ALGORITHM_UNSPECIFIED is TPE (Bayesian), RANDOM_SEARCH is random, GRID_SEARCH is
Google's grid (every INTEGER between its bounds, every DISCRETE and CATEGORICAL value), which runs
at most the grid's size. Scales: UNIT_LOG_SCALE samples log-uniformly; UNIT_REVERSE_LOG_SCALE
spreads values near maxValue, as Google defines it: a log-uniform v mirrored, min + max - v.
DISCRETE values are searched by their index, so their order counts (their log scale does not).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from training_app.hyperparameters import HyperparameterSpec, ParameterSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a pass asks often: no INFO line per trial

STATES = {
    "ACTIVE": TrialState.RUNNING,  # suggested and persisted, its workload queued or running
    "SUCCEEDED": TrialState.COMPLETE,
    "FAILED": TrialState.FAIL,
    "STOPPED_EARLY": TrialState.PRUNED,
    "CANCELLED": TrialState.FAIL,  # with its job; a resumed study does not suggest it again
}
# HyperparameterOutput's state; a trial stopped early succeeded, with isTrialStoppedEarly.
OUTPUT_STATES = {
    "ACTIVE": "RUNNING",
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "STOPPED_EARLY": "SUCCEEDED",
    "CANCELLED": "CANCELLED",
}
GRID_SEED = 0
STARTUP_TRIALS = 3  # the median pruner compares with at least this many finished trials


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the job keeps it: Optuna's view of its values (`params`), and its outcome."""

    number: int  # 0-based; the trial id AI Platform shows is number + 1
    params: Mapping[str, object]  # the sampler's values: DISCRETE as an index, reverse log unmirrored
    state: str = "ACTIVE"  # a key of STATES
    objective: float | None = None  # SUCCEEDED only
    intermediate: Mapping[int, float] = field(default_factory=dict)  # training step: metric
    system_attrs: Mapping[str, object] = field(default_factory=dict)  # the sampler's own (grid id)
    start_time: str = ""  # RFC 3339, as the job's own times
    end_time: str = ""
    live_state: str = ""  # an ACTIVE trial's state as its workload has it: QUEUED, PREPARING, ...


@dataclass(frozen=True)
class Suggestion:
    number: int
    params: dict[str, object]  # to persist in the TrialRecord
    values: dict[str, object]  # what the trainer is given
    system_attrs: dict[str, object]

    def args(self, spec: HyperparameterSpec) -> tuple[str, ...]:
        """`--name=value` per parameter, as AI Platform passes them."""
        return tuple(f"--{p.name}={p.formatted(self.values[p.name])}" for p in spec.params)


def suggestions(
    spec: HyperparameterSpec, records: Iterable[TrialRecord], count: int, *, seed: int
) -> list[Suggestion]:
    """Up to `count` new trials after `records` (fewer where a grid runs out)."""
    records = list(records)
    # A fresh seed per pass, or a rebuilt random sampler repeats itself; but the grid keeps one
    # for good: its seed shuffles the grid, and a record's grid id indexes that order, in this
    # job and in any job that resumes it (resumePreviousJobId).
    grid = spec.algorithm == "GRID_SEARCH"
    study = _study(spec, records, seed=GRID_SEED if grid else _pass_seed(seed, len(records)))
    count = min(count, grid_size(spec) - len(records)) if grid else count
    made = []
    for _ in range(max(count, 0)):
        trial = study.ask(distributions(spec))
        frozen = study._storage.get_trial(trial._trial_id)  # its system attrs (the grid id)
        values = {p.name: value_of(p, trial.params[p.name]) for p in spec.params}
        made.append(Suggestion(trial.number, dict(trial.params), values, dict(frozen.system_attrs)))
    return made


def _pass_seed(seed: int, records: int) -> int:
    """The sampler's seed for a pass after `records` trials of the study seeded `seed`: apart for
    each pair (seed + records would give study 7 after 3 trials study 8's after 2: the same points)."""
    return (seed * 2_654_435_761 + records * 40_503 + 1) % 2**32


def should_stop(spec: HyperparameterSpec, records: Iterable[TrialRecord], record: TrialRecord) -> bool:
    """Whether the median pruner stops an active trial at its latest intermediate metric."""
    if not spec.early_stopping or not record.intermediate:
        return False
    others = [r for r in records if r.number != record.number]
    study = _study(spec, others, seed=0)
    trial = _frozen(spec, record)
    return study.pruner.prune(study, trial)


def best_first(spec: HyperparameterSpec, records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Succeeded trials best first (by the goal), then the others by number: Google's order at the end."""
    records = list(records)
    sign = -1 if spec.goal == "MAXIMIZE" else 1
    done = sorted(
        (r for r in records if r.state == "SUCCEEDED"), key=lambda r: (sign * r.objective, r.number)
    )
    return done + sorted((r for r in records if r.state != "SUCCEEDED"), key=lambda r: r.number)


def training_output(spec: HyperparameterSpec, records: Iterable[TrialRecord], *, ended: bool) -> dict:
    """trainingOutput's tuning fields: each trial by trial id, or best first once the job has
    ended (as Google orders them), how many completed, and the metric tag."""
    records = list(records)
    ordered = best_first(spec, records) if ended else sorted(records, key=lambda r: r.number)
    completed = sum(OUTPUT_STATES[r.state] == "SUCCEEDED" for r in records)
    return {
        "isHyperparameterTuningJob": True,
        "hyperparameterMetricTag": spec.metric_tag,
        "completedTrialCount": str(completed),  # int64 travels as a string in JSON
        "trials": [_trial_output(spec, record) for record in ordered],
    }


def _trial_output(spec: HyperparameterSpec, record: TrialRecord) -> dict:
    metrics = [
        {"trainingStep": str(step), "objectiveValue": value}
        for step, value in sorted(record.intermediate.items())
    ]
    output = {
        "trialId": str(record.number + 1),
        "hyperparameters": {p.name: p.formatted(value_of(p, record.params[p.name])) for p in spec.params},
        "state": (record.state == "ACTIVE" and record.live_state) or OUTPUT_STATES[record.state],
        "isTrialStoppedEarly": record.state == "STOPPED_EARLY",
        "finalMetric": metrics[-1] if metrics else None,
        "allMetrics": metrics,
        "startTime": record.start_time,
        "endTime": record.end_time,
    }
    return {key: value for key, value in output.items() if value not in (None, "", [], False)}


def distributions(spec: HyperparameterSpec) -> dict[str, BaseDistribution]:
    return {p.name: _distribution(p) for p in spec.params}


def value_of(param: ParameterSpec, sampled):
    """The trainer's value of a sampled one."""
    if param.type == "DISCRETE":
        return param.discrete_values[sampled]
    if param.scale_type == "UNIT_REVERSE_LOG_SCALE":
        mirrored = param.min_value + param.max_value - sampled
        return (
            round(mirrored)
            if param.type == "INTEGER"
            else min(max(mirrored, param.min_value), param.max_value)
        )
    return sampled


def grid_size(spec: HyperparameterSpec) -> int:
    return math.prod(len(values) for values in _grid(spec).values())


def _distribution(param: ParameterSpec) -> BaseDistribution:
    log = param.scale_type in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
    if param.type == "DOUBLE":
        return FloatDistribution(param.min_value, param.max_value, log=log)
    if param.type == "INTEGER":
        return IntDistribution(int(param.min_value), int(param.max_value), log=log)
    if param.type == "DISCRETE":
        return IntDistribution(0, len(param.discrete_values) - 1)
    return CategoricalDistribution(param.categorical_values)


def _grid(spec: HyperparameterSpec) -> dict[str, list]:
    grid = {}
    for p in spec.params:
        if p.type == "INTEGER":
            grid[p.name] = list(range(int(p.min_value), int(p.max_value) + 1))
        elif p.type == "DISCRETE":
            grid[p.name] = list(range(len(p.discrete_values)))
        else:
            grid[p.name] = list(p.categorical_values)
    return grid


def _sampler(spec: HyperparameterSpec, seed: int) -> optuna.samplers.BaseSampler:
    if spec.algorithm == "GRID_SEARCH":
        return optuna.samplers.GridSampler(_grid(spec), seed=seed)
    if spec.algorithm == "RANDOM_SEARCH":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: trials still running count as pending, so parallel suggestions spread out
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=min(10, spec.max_trials // 3 or 1), constant_liar=True
    )


def _study(spec: HyperparameterSpec, records: list[TrialRecord], *, seed: int) -> optuna.Study:
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS)
        if spec.early_stopping
        else optuna.pruners.NopPruner()
    )
    direction = "maximize" if spec.goal == "MAXIMIZE" else "minimize"
    study = optuna.create_study(direction=direction, sampler=_sampler(spec, seed), pruner=pruner)
    study.add_trials([_frozen(spec, record) for record in records])
    return study


def _frozen(spec: HyperparameterSpec, record: TrialRecord) -> optuna.trial.FrozenTrial:
    state = STATES[record.state]
    trial = optuna.trial.create_trial(
        state=state,
        value=record.objective if state == TrialState.COMPLETE else None,
        params=dict(record.params),
        distributions=distributions(spec),
        intermediate_values={int(step): value for step, value in record.intermediate.items()},
        system_attrs=dict(record.system_attrs),
    )
    trial.number = record.number
    return trial
