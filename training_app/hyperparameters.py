"""AI Platform's `trainingInput.hyperparameters` (ml v1 HyperparameterSpec) read into a typed spec.

Shapes only, as training_app.inputs: every refusal is an ApplicationError (INVALID_ARGUMENT)
naming the JSON path, e.g. trainingInput.hyperparameters.params[1].maxValue. Defaults are
Google's: maxTrials 1, maxParallelTrials 1, hyperparameterMetricTag training/hptuning/metric.
Whether resumePreviousJobId names a job of the project is for the look-ups.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mlplatform.core.errors import ApplicationError
from mlplatform.gcp import proto

HP = "trainingInput.hyperparameters"
GOALS = ("MAXIMIZE", "MINIMIZE")
ALGORITHMS = ("ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH")
TYPES = ("DOUBLE", "INTEGER", "CATEGORICAL", "DISCRETE")
SCALES = ("NONE", "UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
LOG_SCALES = ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
GRID_TYPES = ("INTEGER", "CATEGORICAL", "DISCRETE")  # Google: grid search needs no DOUBLE
DEFAULT_METRIC_TAG = "training/hptuning/metric"
MAX_DISCRETE_VALUES = 1000
MAX_TRIALS = 10_000  # a bound that keeps a study's rows and its sampler's work finite
# A trial's values reach the trainer as `--name=value`: a name argparse can read.
PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}\Z")
JOB_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}\Z")
SPEC_FIELDS = {
    "algorithm", "enableTrialEarlyStopping", "goal", "hyperparameterMetricTag", "maxFailedTrials",
    "maxParallelTrials", "maxTrials", "params", "resumePreviousJobId",
}  # fmt: skip
PARAM_FIELDS = {
    "categoricalValues", "discreteValues", "maxValue", "minValue", "parameterName", "scaleType", "type",
}  # fmt: skip


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: str  # DOUBLE, INTEGER, CATEGORICAL, DISCRETE
    min_value: float | None = None  # DOUBLE and INTEGER (an integral float for INTEGER)
    max_value: float | None = None
    categorical_values: tuple[str, ...] = ()
    discrete_values: tuple[float, ...] = ()  # strictly increasing
    scale_type: str = "NONE"  # a log scale only with values above 0

    def formatted(self, value) -> str:
        """The value as the trainer's argument reads it: integers without a fraction."""
        if self.type == "INTEGER" or (self.type == "DISCRETE" and float(value).is_integer()):
            return str(int(value))
        return str(value)


@dataclass(frozen=True)
class HyperparameterSpec:
    goal: str
    metric_tag: str
    max_trials: int
    max_parallel_trials: int
    max_failed_trials: int  # 0: the platform decides (every trial may fail)
    early_stopping: bool
    resume_previous_job_id: str
    algorithm: str
    params: tuple[ParameterSpec, ...]


def hyperparameters_from_json(value) -> HyperparameterSpec | None:
    """The typed spec of `trainingInput.hyperparameters`, None when unset; raises ApplicationError
    naming the field."""
    if value in (None, {}):
        return None
    spec = proto.message(value, field=HP)
    proto.check_fields(spec, SPEC_FIELDS, type_name="HyperparameterSpec", path=HP)
    goal = _choice(spec.get("goal"), GOALS, f"{HP}.goal", required=True)
    algorithm = _choice(spec.get("algorithm"), ALGORITHMS, f"{HP}.algorithm") or ALGORITHMS[0]
    max_trials = _count(spec.get("maxTrials"), f"{HP}.maxTrials", default=1)
    max_parallel = _count(spec.get("maxParallelTrials"), f"{HP}.maxParallelTrials", default=1)
    if max_parallel > max_trials:
        raise ApplicationError(f"must be at most maxTrials ({max_trials}).", field=f"{HP}.maxParallelTrials")
    failed = spec.get("maxFailedTrials")
    max_failed = 0 if failed in (None, "") else _int(failed, f"{HP}.maxFailedTrials", minimum=0)
    resume = proto.string(spec.get("resumePreviousJobId"), field=f"{HP}.resumePreviousJobId")
    if resume and not JOB_ID.match(resume):
        raise ApplicationError(
            "must be the jobId of a job of this project.", field=f"{HP}.resumePreviousJobId"
        )
    params = _params(spec.get("params"), algorithm)
    tag = proto.string(spec.get("hyperparameterMetricTag"), field=f"{HP}.hyperparameterMetricTag")
    return HyperparameterSpec(
        goal=goal,
        metric_tag=tag or DEFAULT_METRIC_TAG,
        max_trials=max_trials,
        max_parallel_trials=max_parallel,
        max_failed_trials=max_failed,
        early_stopping=proto.boolean(
            spec.get("enableTrialEarlyStopping"), field=f"{HP}.enableTrialEarlyStopping"
        ),
        resume_previous_job_id=resume,
        algorithm=algorithm,
        params=params,
    )


def _params(value, algorithm: str) -> tuple[ParameterSpec, ...]:
    items = proto.messages(value, field=f"{HP}.params")
    if not items:
        raise ApplicationError("is required: at least one parameter to tune.", field=f"{HP}.params")
    params, seen = [], set()
    for i, item in enumerate(items):
        param = _param(item, f"{HP}.params[{i}]")
        if param.name in seen:
            raise ApplicationError(
                f"'{param.name}' is already a parameter: names must be unique.",
                field=f"{HP}.params[{i}].parameterName",
            )
        if algorithm == "GRID_SEARCH" and param.type not in GRID_TYPES:
            raise ApplicationError(
                f"GRID_SEARCH needs every parameter to be one of {', '.join(GRID_TYPES)} (not {param.type}).",
                field=f"{HP}.params[{i}].type",
            )
        seen.add(param.name)
        params.append(param)
    return tuple(params)


def _param(item: dict, path: str) -> ParameterSpec:
    proto.check_fields(item, PARAM_FIELDS, type_name="ParameterSpec", path=path)
    name = proto.string(item.get("parameterName"), field=f"{path}.parameterName")
    if not PARAMETER_NAME.match(name):
        raise ApplicationError(
            "is required: a name such as learning_rate (letters, digits, _ . -; at most 128).",
            field=f"{path}.parameterName",
        )
    kind = _choice(item.get("type"), TYPES, f"{path}.type", required=True)
    scale = _choice(item.get("scaleType"), SCALES, f"{path}.scaleType") or "NONE"
    ranged = kind in ("DOUBLE", "INTEGER")
    allowed = {"minValue", "maxValue"} if ranged else {f"{kind.lower()}Values"}
    for name_ in ("minValue", "maxValue", "categoricalValues", "discreteValues"):
        if name_ not in allowed and item.get(name_) not in (None, []):
            raise ApplicationError(f"must be unset for a {kind} parameter.", field=f"{path}.{name_}")
    if kind == "CATEGORICAL":
        if scale != "NONE":
            raise ApplicationError("must be unset for a CATEGORICAL parameter.", field=f"{path}.scaleType")
        return ParameterSpec(name, kind, categorical_values=_categories(item, path))
    if kind == "DISCRETE":
        values = _discrete(item, path)
        if scale in LOG_SCALES and values[0] <= 0:
            raise ApplicationError(f"{scale} needs values above 0.", field=f"{path}.discreteValues[0]")
        return ParameterSpec(name, kind, discrete_values=values, scale_type=scale)
    low = _number(item.get("minValue"), f"{path}.minValue", integral=kind == "INTEGER")
    high = _number(item.get("maxValue"), f"{path}.maxValue", integral=kind == "INTEGER")
    if low >= high:
        raise ApplicationError(f"must be greater than minValue ({low:g}).", field=f"{path}.maxValue")
    if scale in LOG_SCALES and low <= 0:
        raise ApplicationError(f"{scale} needs a minValue above 0.", field=f"{path}.minValue")
    return ParameterSpec(name, kind, min_value=low, max_value=high, scale_type=scale)


def _categories(item: dict, path: str) -> tuple[str, ...]:
    field = f"{path}.categoricalValues"
    values = proto.strings(item.get("categoricalValues"), field=field)
    if not values:
        raise ApplicationError("is required for a CATEGORICAL parameter: at least one value.", field=field)
    for i, value in enumerate(values):
        if value in values[:i]:
            raise ApplicationError(
                f"'{value}' is already a value: values must be unique.", field=f"{field}[{i}]"
            )
    return values


def _discrete(item: dict, path: str) -> tuple[float, ...]:
    field = f"{path}.discreteValues"
    raw = item.get("discreteValues")
    if raw is not None and not isinstance(raw, list):
        raise ApplicationError("must be a list of numbers.", field=field)
    if not raw:
        raise ApplicationError("is required for a DISCRETE parameter: at least one value.", field=field)
    if len(raw) > MAX_DISCRETE_VALUES:
        raise ApplicationError(f"at most {MAX_DISCRETE_VALUES} values.", field=field)
    values = tuple(_number(value, f"{field}[{i}]") for i, value in enumerate(raw))
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            raise ApplicationError(
                f"must be greater than {values[i - 1]:g}: values are in strictly increasing order.",
                field=f"{field}[{i}]",
            )
    return values


def _number(value, field: str, *, integral: bool = False) -> float:
    """A proto3 JSON double (a number or its string), finite; integral for INTEGER parameters."""
    if value is None:
        raise ApplicationError("is required.", field=field)
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        number = float(value)
    except ValueError:
        raise ApplicationError("must be a number.", field=field) from None
    if not math.isfinite(number):
        raise ApplicationError("must be a finite number.", field=field)
    if integral and not number.is_integer():
        raise ApplicationError("must be a whole number for an INTEGER parameter.", field=field)
    return number


def _choice(value, choices: tuple[str, ...], field: str, *, required: bool = False) -> str:
    name = proto.string(value, field=field)
    if required and not name:
        raise ApplicationError(f"is required: one of {', '.join(choices)}.", field=field)
    if name and name not in choices:
        raise ApplicationError(f"'{name}' is not one of {', '.join(choices)}.", field=field)
    return name


def _count(value, field: str, *, default: int) -> int:
    if value in (None, "", 0, "0"):
        return default
    return _int(value, field, minimum=1)


def _int(value, field: str, *, minimum: int) -> int:
    return proto.int64(value, field=field, minimum=minimum, maximum=MAX_TRIALS)
