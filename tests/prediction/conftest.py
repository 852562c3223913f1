"""Fixtures of the predictor tests: servers that are stopped at the end, and models made here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from tests.prediction.servers import ROUTINE_CLASS, Served, start, wheel


@pytest.fixture
def predictor(tmp_path) -> Iterator[Callable[..., Served]]:
    """predictor(storage_uri, wait=True, **env) -> a started server (ready, unless wait=False)."""
    started: list[Served] = []

    def make(storage_uri: str | Path, wait: bool = True, **env: str) -> Served:
        served = start(tmp_path, str(storage_uri), **env)
        started.append(served)
        if wait:
            served.wait_ready(env.get("AIP_HEALTH_ROUTE", "/health"))
        return served

    yield make
    for served in started:
        served.stop()


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=0)


@pytest.fixture
def sklearn_model(tmp_path, rows) -> tuple[Path, LogisticRegression]:
    """A folder with model.joblib, a LogisticRegression trained here."""
    features, y = rows
    model = LogisticRegression().fit(features, y)
    folder = tmp_path / "sklearn"
    folder.mkdir()
    joblib.dump(model, folder / "model.joblib")
    return folder, model


@pytest.fixture
def routine_folder(tmp_path) -> Path:
    """The routine's model folder: factor.json, which Scaler.from_path reads."""
    folder = tmp_path / "routine-model"
    folder.mkdir()
    (folder / "factor.json").write_text(json.dumps({"factor": 3}))
    return folder


@pytest.fixture
def routine_predictor(predictor, tmp_path, routine_folder) -> Callable[..., Served]:
    """routine_predictor(wait=True, **env) -> a server of the Scaler routine, its wheel built here."""
    package = wheel(tmp_path / "dist")

    def make(wait: bool = True, **env: str) -> Served:
        env = {"MLPLATFORM_PREDICTION_CLASS": ROUTINE_CLASS, "MLPLATFORM_PACKAGE_URIS": str(package), **env}
        return predictor(routine_folder, wait=wait, **env)

    return make
