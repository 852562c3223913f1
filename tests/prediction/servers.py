"""The predictor server as the platform starts it: `python -m prediction_app.serving` in a process
of its own on a loopback port, configured by its environment only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests import packages
from tests.stores import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60
# The routine package the tests build: `routine.predictor`, as a user's AI Platform package would be.
ROUTINE = '''
import json, os, time


class Scaler:
    """Multiplies each instance by the model's factor (and the request's `scale`); says how many
    instances its predict call was given, so that tests see the batches."""

    def __init__(self, factor, model_dir):
        self.factor = factor
        self.model_dir = model_dir

    @classmethod
    def from_path(cls, model_dir):
        while os.path.exists(os.path.join(model_dir, "hold")):  # the tests release it
            time.sleep(0.05)
        with open(os.path.join(model_dir, "factor.json")) as file:
            return cls(json.load(file)["factor"], model_dir)

    def predict(self, instances, **kwargs):
        if "boom" in instances:
            raise ValueError("boom is not a number")
        if "wait" in instances:  # a slow call: until the test removes predict-hold
            open(os.path.join(self.model_dir, "predicting"), "w").close()
            while os.path.exists(os.path.join(self.model_dir, "predict-hold")):
                time.sleep(0.05)
            instances = [1 for _ in instances]
        scale = kwargs.get("scale", 1)
        return [[x * self.factor * scale, len(instances), sorted(kwargs)] for x in instances]


class WithoutFromPath:
    def predict(self, instances, **kwargs):
        return instances


class Broken:
    @classmethod
    def from_path(cls, model_dir):
        raise RuntimeError("the weights are missing")
'''
ROUTINE_CLASS = "routine.predictor.Scaler"


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    log: Path

    def post(self, body, route: str = "/predict") -> httpx.Response:
        content = body if isinstance(body, bytes) else None
        return httpx.post(self.url + route, content=content, json=None if content else body, timeout=30)

    def predict(self, instances: list, **fields) -> list:
        answer = self.post({"instances": instances, **fields})
        assert answer.status_code == 200, answer.text
        return answer.json()["predictions"]

    def health(self, route: str = "/health") -> int:
        return httpx.get(self.url + route, timeout=5).status_code

    def wait_ready(self, route: str = "/health") -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the predictor exited {self.process.returncode}:\n{self.log.read_text()}"
                )
            try:
                if self.health(route) == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
        raise AssertionError(f"the predictor was not ready in {STARTUP_SECONDS} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(tmp_path: Path, storage_uri: str, **env: str) -> Served:
    """The server on a free loopback port, with only the variables a replica gets (and `env`)."""
    port = free_port()
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AIP_HTTP_PORT": str(port),
        "MLPLATFORM_HOST": "127.0.0.1",
        "AIP_STORAGE_URI": storage_uri,
        "AIP_MODEL_NAME": "census",
        "AIP_VERSION_NAME": "v1",
        "AIP_MODE": "PREDICTION",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    log = tmp_path / f"predictor-{port}.log"
    run_dir = tmp_path / f"run-{port}"
    run_dir.mkdir()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prediction_app.serving"], cwd=run_dir, env=environ, stdout=out, stderr=out
        )
    return Served(process, f"http://127.0.0.1:{port}", log)


def wheel(folder: Path, source: str = ROUTINE) -> Path:
    """routine-0.1-py3-none-any.whl with `routine.predictor`."""
    return packages.wheel(folder, "routine", "predictor", source)


def sdist(folder: Path) -> Path:
    """routine-0.1.tar.gz with `routine.predictor`."""
    return packages.sdist(folder, "routine", "predictor", ROUTINE)


def exit_of(served: Served, timeout: float = STARTUP_SECONDS) -> tuple[int, str]:
    """The exit code and the last line of the log of a server that must end by itself."""
    code = served.process.wait(timeout=timeout)
    lines = served.log.read_text().strip().splitlines()
    return code, lines[-1] if lines else ""
