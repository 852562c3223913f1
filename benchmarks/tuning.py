"""Benchmark: how close hyperparameter tuning's search comes to a known optimum, per algorithm
and trial budget, and what its suggestions cost.

    python -m benchmarks.tuning

The search is the one tuning jobs run (training_app.tuning.suggestions: Optuna's TPE for
ALGORITHM_UNSPECIFIED, its random and grid samplers), driven as a job's study passes drive it: at
most maxParallelTrials (2) trials in flight, each pass rebuilding the study from the job's trial
records, every trial's objective computed at once instead of by a trainer. Three problems with
known optima:

- quadratic: the tests' trainer, -(x-2)^2 + 5 (+0.5 with optimizer adam), maximized; x DOUBLE
  in [-3, 7] (grid: DISCRETE, steps of 0.5).
- branin: the Branin-Hoo function, minimized (0.397887 at three points); x1 in [-5, 10], x2 in
  [0, 15] (grid: INTEGER, 256 points; its best point is 0.1000 from the optimum).
- learning_rate: -(log10(lr) + 2.5)^2 - (log2(batch) - 7)^2 / 4, maximized (0 at lr 10^-2.5 and
  batch 128); lr DOUBLE in [1e-5, 1] UNIT_LOG_SCALE, batch INTEGER in [16, 1024].

Each cell is the regret (|best found - optimum|) over SEEDS studies: median, best and worst.
Random search is the anchor of Bayesian's: `bayesian_over_random` is their median regrets' ratio
(under 1: Bayesian came closer). `suggest_ms` times one suggestion late in a 60-trial study,
rebuilt from records as a pass does, beside Optuna's own long-lived in-memory study (the anchor):
the price of a study that survives any worker's restart.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
import warnings

SEEDS = 5
BUDGETS = (10, 30, 60)
PARALLEL = 2
ALGORITHMS = ("ALGORITHM_UNSPECIFIED", "RANDOM_SEARCH", "GRID_SEARCH")


def quadratic(p: dict) -> float:
    return -((p["x"] - 2) ** 2) + 5 + (0.5 if p["optimizer"] == "adam" else 0)


def branin(p: dict) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, r, s, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def learning_rate(p: dict) -> float:
    return -((math.log10(p["lr"]) + 2.5) ** 2) - (math.log2(p["batch"]) - 7) ** 2 / 4


PROBLEMS = {
    "quadratic": {
        "goal": "MAXIMIZE",
        "optimum": 5.5,
        "f": quadratic,
        "params": [
            {"parameterName": "x", "type": "DOUBLE", "minValue": -3, "maxValue": 7},
            {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["sgd", "adam"]},
        ],
        "grid": [
            {"parameterName": "x", "type": "DISCRETE", "discreteValues": [v / 2 for v in range(-6, 15)]},
            {"parameterName": "optimizer", "type": "CATEGORICAL", "categoricalValues": ["sgd", "adam"]},
        ],
    },
    "branin": {
        "goal": "MINIMIZE",
        "optimum": 0.397887,
        "f": branin,
        "params": [
            {"parameterName": "x1", "type": "DOUBLE", "minValue": -5, "maxValue": 10},
            {"parameterName": "x2", "type": "DOUBLE", "minValue": 0, "maxValue": 15},
        ],
        "grid": [
            {"parameterName": "x1", "type": "INTEGER", "minValue": -5, "maxValue": 10},
            {"parameterName": "x2", "type": "INTEGER", "minValue": 0, "maxValue": 15},
        ],
    },
    "learning_rate": {
        "goal": "MAXIMIZE",
        "optimum": 0.0,
        "f": learning_rate,
        "params": [
            {
                "parameterName": "lr",
                "type": "DOUBLE",
                "minValue": 1e-5,
                "maxValue": 1,
                "scaleType": "UNIT_LOG_SCALE",
            },
            {
                "parameterName": "batch",
                "type": "INTEGER",
                "minValue": 16,
                "maxValue": 1024,
                "scaleType": "UNIT_LOG_SCALE",
            },
        ],
        "grid": [
            {"parameterName": "lr", "type": "DISCRETE", "discreteValues": [10.0**e for e in range(-5, 1)]},
            {
                "parameterName": "batch",
                "type": "DISCRETE",
                "discreteValues": [16, 32, 64, 128, 256, 512, 1024],
            },
        ],
    },
}


def main() -> None:
    sys.path.insert(0, os.getcwd())
    warnings.filterwarnings("ignore")  # Optuna's ExperimentalWarning for constant_liar
    print(json.dumps(run(), indent=2))


def spec_of(problem: dict, algorithm: str, budget: int):
    from training_app.hyperparameters import hyperparameters_from_json

    return hyperparameters_from_json(
        {
            "goal": problem["goal"],
            "maxTrials": budget,
            "maxParallelTrials": PARALLEL,
            "algorithm": algorithm,
            "params": problem["grid"] if algorithm == "GRID_SEARCH" else problem["params"],
        }
    )


def study(problem: dict, spec, seed: int) -> list:
    """Every trial's record, as a job's passes make them: PARALLEL in flight, the oldest ending."""
    from dataclasses import replace

    from training_app import tuning

    records: list = []
    while len(records) < spec.max_trials:
        active = [r for r in records if r.state == "ACTIVE"]
        room = min(PARALLEL - len(active), spec.max_trials - len(records))
        made = tuning.suggestions(spec, records, room, seed=seed)
        if not made and not active:
            break  # a grid that ran out
        for s in made:
            records.append(tuning.TrialRecord(number=s.number, params=s.params, system_attrs=s.system_attrs))
        oldest = next(r for r in records if r.state == "ACTIVE")
        values = {p.name: tuning.value_of(p, oldest.params[p.name]) for p in spec.params}
        records[oldest.number] = replace(oldest, state="SUCCEEDED", objective=problem["f"](values))
    return [r for r in records if r.state == "SUCCEEDED"]


def regret(problem: dict, records: list) -> float:
    values = [r.objective for r in records]
    best = max(values) if problem["goal"] == "MAXIMIZE" else min(values)
    return abs(best - problem["optimum"])


def run() -> dict:
    from training_app import tuning

    results: dict = {}
    ratios: dict = {}
    for name, problem in PROBLEMS.items():
        cells: dict = {}
        for algorithm in ALGORITHMS:
            for budget in BUDGETS:
                spec = spec_of(problem, algorithm, budget)
                seeds = [regret(problem, study(problem, spec, seed)) for seed in range(SEEDS)]
                cells.setdefault(algorithm, {})[str(budget)] = {
                    "trials": min(budget, tuning.grid_size(spec)) if algorithm == "GRID_SEARCH" else budget,
                    "median_regret": round(statistics.median(seeds), 6),
                    "best_regret": round(min(seeds), 6),
                    "worst_regret": round(max(seeds), 6),
                }
        results[name] = {"goal": problem["goal"], "optimum": problem["optimum"], "regret": cells}
        ratios[name] = {
            str(budget): round(
                cells["ALGORITHM_UNSPECIFIED"][str(budget)]["median_regret"]
                / max(cells["RANDOM_SEARCH"][str(budget)]["median_regret"], 1e-12),
                3,
            )
            for budget in BUDGETS
        }
    return {
        "benchmark": "tuning",
        "seeds": SEEDS,
        "max_parallel_trials": PARALLEL,
        "problems": results,
        "bayesian_over_random": ratios,
        "suggest_ms": suggest_cost(),
    }


def suggest_cost(trials: int = 60, repeat: int = 10) -> dict:
    """ms per TPE suggestion after `trials` ended trials: the pass's rebuilt study against
    Optuna's in-memory one, both asked `repeat` times (the anchor keeps its study between asks)."""
    import optuna

    from training_app import tuning

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = PROBLEMS["branin"]
    spec = spec_of(problem, "ALGORITHM_UNSPECIFIED", trials + repeat)
    records = study(problem, spec_of(problem, "ALGORITHM_UNSPECIFIED", trials), seed=0)

    started = time.perf_counter()
    for i in range(repeat):
        tuning.suggestions(spec, records, 1, seed=i)
    rebuilt = (time.perf_counter() - started) * 1000 / repeat

    kept = optuna.create_study(direction="minimize", sampler=tuning._sampler(spec, 0))
    kept.add_trials([tuning._frozen(spec, r) for r in records])
    started = time.perf_counter()
    for _ in range(repeat):
        kept.ask(tuning.distributions(spec))
    in_memory = (time.perf_counter() - started) * 1000 / repeat
    return {
        "after_trials": trials,
        "rebuilt_from_records": round(rebuilt, 2),
        "optuna_in_memory": round(in_memory, 2),
        "ratio": round(rebuilt / in_memory, 2),
    }


if __name__ == "__main__":
    main()
