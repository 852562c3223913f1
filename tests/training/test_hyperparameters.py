"""trainingInput.hyperparameters (ml v1 HyperparameterSpec) read into its typed spec: Google's
defaults, and every bad input refused with its field's path. No database: shapes only."""

from __future__ import annotations

import pytest

from mlplatform.core.errors import ApplicationError, ErrorCode
from training_app.hyperparameters import ParameterSpec
from training_app.inputs import training_input_from_json

PACKAGE = {"packageUris": ["gs://demo/trainer-0.1.tar.gz"], "pythonModule": "trainer.task"}
X = {"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 6}
HP = "trainingInput.hyperparameters"


def spec(**hyperparameters):
    body = {"goal": "MAXIMIZE", "params": [X], **hyperparameters}
    return training_input_from_json({**PACKAGE, "hyperparameters": body}).hyperparameters


def refused(**hyperparameters) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        spec(**hyperparameters)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert caught.value.message
    return caught.value


def test_a_job_without_hyperparameters_is_no_tuning_job():
    assert training_input_from_json(PACKAGE).hyperparameters is None


def test_googles_defaults_fill_what_is_unset():
    tuning = spec()

    assert (tuning.goal, tuning.algorithm, tuning.metric_tag) == (
        "MAXIMIZE",
        "ALGORITHM_UNSPECIFIED",
        "training/hptuning/metric",
    )
    assert (tuning.max_trials, tuning.max_parallel_trials, tuning.max_failed_trials) == (1, 1, 0)
    assert (tuning.early_stopping, tuning.resume_previous_job_id) == (False, "")


def test_every_parameter_type_is_read_with_proto3s_number_forms():
    tuning = spec(
        goal="MINIMIZE",
        hyperparameterMetricTag="loss",
        maxTrials="20",
        maxParallelTrials=4,
        maxFailedTrials="3",
        enableTrialEarlyStopping=True,
        resumePreviousJobId="tune_1",
        algorithm="RANDOM_SEARCH",
        params=[
            {
                "parameterName": "lr",
                "type": "DOUBLE",
                "minValue": "1e-4",
                "maxValue": 0.1,
                "scaleType": "UNIT_LOG_SCALE",
            },
            {"parameterName": "layers", "type": "INTEGER", "minValue": 1, "maxValue": "8"},
            {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["adam", "sgd"]},
            {"parameterName": "batch-size", "type": "DISCRETE", "discreteValues": [16, "32", 64.5]},
        ],
    )

    assert (tuning.max_trials, tuning.max_parallel_trials, tuning.max_failed_trials) == (20, 4, 3)
    assert (tuning.metric_tag, tuning.early_stopping, tuning.resume_previous_job_id) == (
        "loss",
        True,
        "tune_1",
    )
    assert tuning.params == (
        ParameterSpec("lr", "DOUBLE", min_value=1e-4, max_value=0.1, scale_type="UNIT_LOG_SCALE"),
        ParameterSpec("layers", "INTEGER", min_value=1, max_value=8),
        ParameterSpec("optimizer", "CATEGORICAL", categorical_values=("adam", "sgd")),
        ParameterSpec("batch-size", "DISCRETE", discrete_values=(16, 32, 64.5)),
    )


def test_grid_search_takes_integer_categorical_and_discrete_parameters():
    tuning = spec(
        algorithm="GRID_SEARCH",
        params=[
            {"parameterName": "n", "type": "INTEGER", "minValue": 1, "maxValue": 3},
            {"parameterName": "c", "type": "CATEGORICAL", "categoricalValues": ["a"]},
        ],
    )

    assert [p.type for p in tuning.params] == ["INTEGER", "CATEGORICAL"]


def param(**fields):
    return {"params": [X, {"parameterName": "y", "type": "DOUBLE", "minValue": 1, "maxValue": 2, **fields}]}


@pytest.mark.parametrize(
    ("hyperparameters", "field"),
    [
        ({"goal": None}, f"{HP}.goal"),
        ({"goal": "BIGGER"}, f"{HP}.goal"),
        ({"algorithm": "BAYESIAN"}, f"{HP}.algorithm"),
        ({"maxTrials": -1}, f"{HP}.maxTrials"),
        ({"maxTrials": "many"}, f"{HP}.maxTrials"),
        ({"maxTrials": 4, "maxParallelTrials": 5}, f"{HP}.maxParallelTrials"),
        ({"maxParallelTrials": 2}, f"{HP}.maxParallelTrials"),  # maxTrials defaults to 1
        ({"maxFailedTrials": -2}, f"{HP}.maxFailedTrials"),
        ({"enableTrialEarlyStopping": "yes"}, f"{HP}.enableTrialEarlyStopping"),
        ({"resumePreviousJobId": "jobs/tune 1"}, f"{HP}.resumePreviousJobId"),
        ({"hyperparameterMetricTag": 3}, f"{HP}.hyperparameterMetricTag"),
        ({"objective": "x"}, f"{HP}.objective"),
        ({"params": []}, f"{HP}.params"),
        ({"params": X}, f"{HP}.params"),
        ({"params": [X, X]}, f"{HP}.params[1].parameterName"),
        (param(parameterName=None), f"{HP}.params[1].parameterName"),
        (param(parameterName="--y"), f"{HP}.params[1].parameterName"),
        (param(type="FLOAT"), f"{HP}.params[1].type"),
        (param(type=None), f"{HP}.params[1].type"),
        (param(maxValue=1), f"{HP}.params[1].maxValue"),
        (param(maxValue=0.5), f"{HP}.params[1].maxValue"),
        (param(minValue=None), f"{HP}.params[1].minValue"),
        (param(minValue="NaN"), f"{HP}.params[1].minValue"),
        (param(maxValue="Infinity"), f"{HP}.params[1].maxValue"),
        (param(maxValue=True), f"{HP}.params[1].maxValue"),
        (param(type="INTEGER", maxValue=2.5), f"{HP}.params[1].maxValue"),
        (param(minValue=0, scaleType="UNIT_LOG_SCALE"), f"{HP}.params[1].minValue"),
        (param(minValue=-1, scaleType="UNIT_REVERSE_LOG_SCALE"), f"{HP}.params[1].minValue"),
        (param(scaleType="LOG"), f"{HP}.params[1].scaleType"),
        (param(categoricalValues=["a"]), f"{HP}.params[1].categoricalValues"),
        (param(colour="red"), f"{HP}.params[1].colour"),
        ({"params": [{"parameterName": "c", "type": "CATEGORICAL"}]}, f"{HP}.params[0].categoricalValues"),
        (
            {"params": [{"parameterName": "c", "type": "CATEGORICAL", "categoricalValues": []}]},
            f"{HP}.params[0].categoricalValues",
        ),
        (
            {"params": [{"parameterName": "c", "type": "CATEGORICAL", "categoricalValues": ["a", "b", "a"]}]},
            f"{HP}.params[0].categoricalValues[2]",
        ),
        (
            {
                "params": [
                    {"parameterName": "c", "type": "CATEGORICAL", "categoricalValues": ["a"], "minValue": 1}
                ]
            },
            f"{HP}.params[0].minValue",
        ),
        (
            {
                "params": [
                    {
                        "parameterName": "c",
                        "type": "CATEGORICAL",
                        "categoricalValues": ["a"],
                        "scaleType": "UNIT_LOG_SCALE",
                    }
                ]
            },
            f"{HP}.params[0].scaleType",
        ),
        ({"params": [{"parameterName": "d", "type": "DISCRETE"}]}, f"{HP}.params[0].discreteValues"),
        (
            {"params": [{"parameterName": "d", "type": "DISCRETE", "discreteValues": [1, 3, 3]}]},
            f"{HP}.params[0].discreteValues[2]",
        ),
        (
            {"params": [{"parameterName": "d", "type": "DISCRETE", "discreteValues": [1, "two"]}]},
            f"{HP}.params[0].discreteValues[1]",
        ),
        (
            {"params": [{"parameterName": "d", "type": "DISCRETE", "discreteValues": list(range(1001))}]},
            f"{HP}.params[0].discreteValues",
        ),
        (
            {
                "params": [
                    {
                        "parameterName": "d",
                        "type": "DISCRETE",
                        "discreteValues": [0, 1],
                        "scaleType": "UNIT_LOG_SCALE",
                    }
                ]
            },
            f"{HP}.params[0].discreteValues[0]",
        ),
        ({"algorithm": "GRID_SEARCH"}, f"{HP}.params[0].type"),  # Google's grid has no DOUBLE
    ],
)
def test_bad_hyperparameters_are_refused_naming_the_field(hyperparameters, field):
    assert refused(**hyperparameters).field == field


def test_the_refusal_says_what_to_do():
    assert refused(maxTrials=4, maxParallelTrials=5).message == "must be at most maxTrials (4)."
    assert "GRID_SEARCH" in refused(algorithm="GRID_SEARCH").message
