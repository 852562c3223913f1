"""A tuning job's search (training_app.tuning): Optuna's samplers rebuilt from the job's trial
records on every pass, with fixed seeds. No database and no workloads: each trial's metric is the
quadratic -(x-3)^2 computed here, as a trainer would report it."""

from __future__ import annotations

import statistics

import pytest

from training_app.hyperparameters import hyperparameters_from_json
from training_app.tuning import TrialRecord, best_first, should_stop, suggestions, training_output

SEED = 7


def tuning(algorithm="ALGORITHM_UNSPECIFIED", *, params=None, **fields):
    x = {"parameterName": "x", "type": "DOUBLE", "minValue": -10, "maxValue": 10}
    body = {"goal": "MAXIMIZE", "algorithm": algorithm, "params": params or [x], **fields}
    return hyperparameters_from_json(body)


def quadratic(values) -> float:
    return -((values["x"] - 3) ** 2)


def study(spec, objective=quadratic) -> list[TrialRecord]:
    """Runs the search as the job's passes do: up to maxParallelTrials suggested at a time, each
    persisted as a record before the next pass rebuilds the study from the records."""
    records: list[TrialRecord] = []
    while len(records) < spec.max_trials:
        batch = min(spec.max_parallel_trials, spec.max_trials - len(records))
        made = suggestions(spec, records, batch, seed=SEED)
        if not made:
            break
        for s in made:
            records.append(
                TrialRecord(s.number, s.params, "SUCCEEDED", objective(s.values), system_attrs=s.system_attrs)
            )
    return records


@pytest.mark.parametrize(
    ("algorithm", "trials", "within"),
    [
        ("ALGORITHM_UNSPECIFIED", 12, 1.0),
        ("ALGORITHM_UNSPECIFIED", 30, 0.25),
        ("RANDOM_SEARCH", 30, 1.0),
    ],
)
def test_the_best_trial_comes_close_to_the_optimum(algorithm, trials, within):
    spec = tuning(algorithm, maxTrials=trials, maxParallelTrials=3)

    records = study(spec)

    assert len(records) == trials
    assert best_first(spec, records)[0].objective > -(within**2)


def test_grid_search_runs_each_point_of_googles_grid_once_and_no_more():
    x = {"parameterName": "x", "type": "INTEGER", "minValue": -10, "maxValue": 10}
    spec = tuning("GRID_SEARCH", params=[x], maxTrials=30, maxParallelTrials=4)

    records = study(spec)

    assert sorted(r.params["x"] for r in records) == list(range(-10, 11))  # 21 points, not 30
    assert best_first(spec, records)[0].params == {"x": 3}
    assert best_first(spec, records)[0].objective == 0


def test_trials_still_running_are_not_suggested_again():
    x = {"parameterName": "x", "type": "INTEGER", "minValue": 1, "maxValue": 6}
    spec = tuning("GRID_SEARCH", params=[x], maxTrials=6, maxParallelTrials=3)
    running = [
        TrialRecord(s.number, s.params, system_attrs=s.system_attrs)
        for s in suggestions(spec, [], 3, seed=SEED)
    ]

    more = suggestions(spec, running, 3, seed=SEED)

    assert sorted([r.params["x"] for r in running] + [s.params["x"] for s in more]) == [1, 2, 3, 4, 5, 6]
    assert [s.number for s in more] == [3, 4, 5]


def test_a_pass_run_twice_on_the_same_records_suggests_the_same_trials():
    spec = tuning(maxTrials=10, maxParallelTrials=2)
    records = study(tuning(maxTrials=4, maxParallelTrials=2))

    first, again = (suggestions(spec, records, 2, seed=SEED) for _ in range(2))

    assert [s.values for s in first] == [s.values for s in again]
    assert len({s.values["x"] for s in first}) == 2


@pytest.mark.parametrize("algorithm", ["ALGORITHM_UNSPECIFIED", "RANDOM_SEARCH"])
def test_studies_seeded_one_apart_explore_different_points(algorithm):
    # Job 8's study after 3 trials is not job 9's after 2: each would repeat the other's points
    spec = tuning(algorithm, maxTrials=30, maxParallelTrials=1)
    seen = set()
    for seed in (SEED, SEED + 1):
        records: list[TrialRecord] = []
        for _ in range(6):
            (made,) = suggestions(spec, records, 1, seed=seed)
            records.append(TrialRecord(made.number, made.params, "SUCCEEDED", quadratic(made.values)))
        seen |= {r.params["x"] for r in records}

    assert len(seen) == 12


def test_log_scales_spread_values_where_google_says():
    def median(scale):
        param = {"parameterName": "x", "type": "DOUBLE", "minValue": 1, "maxValue": 1000, "scaleType": scale}
        spec = tuning("RANDOM_SEARCH", params=[param], maxTrials=200)
        return statistics.median(s.values["x"] for s in suggestions(spec, [], 200, seed=SEED))

    assert median("UNIT_LOG_SCALE") < 100 < 900 < median("UNIT_REVERSE_LOG_SCALE")
    assert 300 < median("UNIT_LINEAR_SCALE") < 700


def test_each_trial_gets_its_values_as_arguments():
    params = [
        {"parameterName": "layers", "type": "INTEGER", "minValue": 2, "maxValue": 2.0 + 1},
        {"parameterName": "batch-size", "type": "DISCRETE", "discreteValues": [64, 64.5]},
        {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["adam"]},
    ]
    spec = tuning("GRID_SEARCH", params=params, maxTrials=4, maxParallelTrials=4)

    args = sorted(s.args(spec) for s in suggestions(spec, [], 4, seed=SEED))

    assert args == [
        ("--layers=2", "--batch-size=64", "--optimizer=adam"),
        ("--layers=2", "--batch-size=64.5", "--optimizer=adam"),
        ("--layers=3", "--batch-size=64", "--optimizer=adam"),
        ("--layers=3", "--batch-size=64.5", "--optimizer=adam"),
    ]


def curve(number, final, state="SUCCEEDED"):
    """A trial whose metric climbs to `final` over steps 1..10."""
    steps = {step: final * step / 10 for step in range(1, 11)}
    return TrialRecord(number, {"x": 0.0}, state, final if state == "SUCCEEDED" else None, steps)


def test_early_stopping_stops_a_trial_worse_than_the_median_at_the_same_step():
    spec = tuning(maxTrials=10, maxParallelTrials=2, goal="MAXIMIZE", enableTrialEarlyStopping=True)
    finished = [curve(0, 10), curve(1, 12), curve(2, 9)]
    bad = TrialRecord(3, {"x": 0.0}, "ACTIVE", intermediate={1: 0.1, 2: 0.1, 3: 0.2})
    good = TrialRecord(4, {"x": 0.0}, "ACTIVE", intermediate={1: 1.5, 2: 2.5, 3: 3.5})

    assert should_stop(spec, [*finished, bad, good], bad)
    assert not should_stop(spec, [*finished, bad, good], good)
    assert not should_stop(tuning(maxTrials=10), [*finished, bad], bad)  # early stopping off


def test_trials_are_ordered_best_first_then_the_others_by_number():
    spec = tuning(goal="MINIMIZE", maxTrials=5)
    records = [curve(0, 5), curve(1, 0, "FAILED"), curve(2, 2), curve(3, 0, "ACTIVE"), curve(4, 2)]

    assert [r.number for r in best_first(spec, records)] == [2, 4, 0, 1, 3]


def test_training_output_shows_every_trial_as_google_does_and_the_best_first_once_ended():
    spec = tuning(maxTrials=3, hyperparameterMetricTag="score")
    records = [
        TrialRecord(0, {"x": 1.0}, "SUCCEEDED", -4.0, {10: -5.0, 20: -4.0}, start_time="t0", end_time="t1"),
        TrialRecord(1, {"x": 2.5}, "SUCCEEDED", -0.25, {20: -0.25}),
        TrialRecord(2, {"x": -9.0}, "STOPPED_EARLY", None, {10: -150.0}),
    ]

    running = training_output(spec, records, ended=False)
    ended = training_output(spec, records, ended=True)

    assert [t["trialId"] for t in running["trials"]] == ["1", "2", "3"]
    assert [t["trialId"] for t in ended["trials"]] == ["2", "1", "3"]
    assert (
        ended["isHyperparameterTuningJob"],
        ended["hyperparameterMetricTag"],
        ended["completedTrialCount"],
    ) == (
        True,
        "score",
        "3",
    )
    assert running["trials"][0] == {
        "trialId": "1",
        "hyperparameters": {"x": "1.0"},
        "state": "SUCCEEDED",
        "finalMetric": {"trainingStep": "20", "objectiveValue": -4.0},
        "allMetrics": [
            {"trainingStep": "10", "objectiveValue": -5.0},
            {"trainingStep": "20", "objectiveValue": -4.0},
        ],
        "startTime": "t0",
        "endTime": "t1",
    }
    assert running["trials"][2]["isTrialStoppedEarly"] is True
