"""Fixtures for prediction: a project that reaches local bucket `demo`, a scikit-learn model
trained here and uploaded to it, and a stand-in of the predictor (until prediction_app.serving
lands) that answers with that model's own predictions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlplatform.compute.values import Endpoint
from mlplatform.storage.services import storage_connection_create
from tests.factories import quota

MODEL_URI = "gs://demo/models/iris/"
SERVER = Path(__file__).resolve().parents[2] / "prediction_app" / "serving" / "__main__.py"
needs_predictor = pytest.mark.skipif(
    not SERVER.exists(), reason="the predictor (prediction_app/serving, branch `predictor`) is not merged yet"
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
    handler = type("Handler", (_StandIn,), {"model": iris_model[0]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr("prediction_app.selectors.workload_endpoint", lambda **kwargs: Endpoint(url=url))
    from prediction_app.gateway import predict_gateway

    predict_gateway.forget()
    yield url
    server.shutdown()
    predict_gateway.forget()
