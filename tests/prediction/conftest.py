"""Fixtures of the prediction tests: predictor servers stopped at the end and models made here;
a project that reaches local bucket `demo` with a scikit-learn model trained here; and, for the
facade tests that need no process of their own, a stand-in that answers as the predictor does
(the end-to-end tests run the real one)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.linear_model import LogisticRegression

from mlplatform.compute import backends
from mlplatform.compute.values import Endpoint
from mlplatform.storage.services import storage_connection_create
from tests.background import http_serving
from tests.factories import quota
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


MODEL_URI = "gs://demo/models/iris/"
SERVER = Path(__file__).resolve().parents[2] / "prediction_app" / "serving" / "__main__.py"
needs_predictor = pytest.mark.skipif(
    not SERVER.exists(), reason="the predictor (prediction_app/serving) is not in this tree"
)


@pytest.fixture(scope="session")
def iris_model():
    features, labels = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(features, labels), features


@pytest.fixture
def team(project, settings, tmp_path, seeded_catalog, iris_model):
    """team-a with local bucket `demo` holding models/iris/model.joblib, and CPU quota for 4 nodes."""
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    folder = settings.STORAGE_LOCAL_ROOT / "demo" / "models" / "iris"
    folder.mkdir(parents=True)
    joblib.dump(iris_model[0], folder / "model.joblib")
    (settings.STORAGE_LOCAL_ROOT / "demo" / "empty").mkdir()
    quota(project, "cpu", nominal_cpu=16, nominal_memory_gib=64)
    return project


@pytest.fixture
def local(team, settings, tmp_path):
    """team on the local backend; no process it started outlives the test, and the gateway keeps
    no route to one (a next test's replica may answer on the same port)."""
    from prediction_app.gateway import predict_gateway

    settings.DATA_DIR = tmp_path / "data"
    settings.COMPUTE_BACKEND = "local"
    settings.LOCAL_GPUS = "0"
    backends.get_backend.cache_clear()
    predict_gateway.forget()
    yield team
    backends.get_backend().collect_garbage(set())
    backends.get_backend.cache_clear()
    predict_gateway.forget()


def version_body(name: str = "v1", **overrides) -> dict:
    return {
        "name": name,
        "deploymentUri": MODEL_URI,
        "runtimeVersion": "2.11",
        "pythonVersion": "3.7",
        "framework": "SCIKIT_LEARN",
        **overrides,
    }


class _StandIn(BaseHTTPRequestHandler):
    model = None

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            answer, status = {"predictions": self.model.predict(body["instances"]).tolist()}, 200
        except Exception as exc:  # the predictor's contract: 400 and the reason
            answer, status = {"error": f"Prediction failed: {exc}"}, 400
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in(iris_model, monkeypatch) -> Iterator[str]:
    """A predictor stand-in serving the iris model; every version's replica is reached there."""
    from prediction_app.gateway import predict_gateway

    handler = type("Handler", (_StandIn,), {"model": iris_model[0]})
    with http_serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        monkeypatch.setattr("prediction_app.selectors.workload_endpoint", lambda **kwargs: Endpoint(url=url))
        predict_gateway.forget()
        yield url
    predict_gateway.forget()
