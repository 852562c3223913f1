"""Benchmark: our predictor server beside MLServer's scikit-learn runtime, on the same model file.

    python -m benchmarks.prediction

Trains a small LogisticRegression on generated data, saves model.joblib once, and serves it with
`python -m prediction_app.serving` (AI Platform's protocol) and with MLServer 1.7.1 (`mlserver` and
`mlserver-sklearn`, V2 inference protocol, in a virtualenv made once under CACHE), both as shipped
and with `parallel_workers: 0` (inference in its own event loop, no worker process). Every leg's
predictions are checked identical to the model's own first; then `wrk` (Debian's, one thread,
kept connections: C, so the load generator is not the bottleneck) posts one-row and 100-row
payloads at concurrency 1, 8 and 32, the legs interleaved, ROUNDS times. Prints one JSON object:
requests/s, p50 and p99 in milliseconds and errors per leg, payload and concurrency (the median
round), and our requests/s over MLServer's (aim: at least AIM_RATIO, p99 no worse).

`predict_leg(name, url, headers)` measures any URL that speaks AI Platform's `:predict` (the
console's, with an Authorization header, once it can deploy the model: add it to `legs` in main).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

MLSERVER = "1.7.1"
CACHE = Path(os.environ.get("MLPLATFORM_BENCH_CACHE", Path.home() / ".cache" / "mlplatform-bench"))
CONCURRENCY = (1, 8, 32)
ROWS = {"one_row": 1, "100_rows": 100}
FEATURES = 20
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
AIM_RATIO = 1.5
WRK_SCRIPT = """
wrk.method = "POST"
local file = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.body = file:read("*a")
file:close()
for name, value in string.gmatch(os.getenv("BENCH_HEADERS"), "([^\\n:]+): ([^\\n]+)") do
  wrk.headers[name] = value
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class Leg:
    """A server under test: how to post `rows` to it and read its predictions back."""

    name: str
    url: str
    body: Callable[[np.ndarray], bytes]
    predictions: Callable[[dict], list]
    headers: dict[str, str] = field(default_factory=dict)


def predict_leg(name: str, url: str, headers: dict[str, str] | None = None) -> Leg:
    """A URL that speaks AI Platform's online prediction (`{"instances"}` -> `{"predictions"}`)."""
    return Leg(
        name,
        url,
        lambda rows: json.dumps({"instances": rows.tolist()}).encode(),
        lambda answer: answer["predictions"],
        {"Content-Type": "application/json", **(headers or {})},
    )


def mlserver_leg(name: str, url: str) -> Leg:
    """MLServer's V2 inference protocol for the model named "model"."""

    def body(rows: np.ndarray) -> bytes:
        inputs = [
            {"name": "predict", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}
        ]
        return json.dumps({"inputs": inputs}).encode()

    return Leg(
        name,
        f"{url}/v2/models/model/infer",
        body,
        lambda answer: answer["outputs"][0]["data"],
        {"Content-Type": "application/json"},
    )


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("benchmarks.prediction needs wrk: apt-get install -y wrk")
    mlserver = mlserver_python()
    with tempfile.TemporaryDirectory(prefix="bench-prediction-") as work:
        folder, model, rows = trained_model(Path(work))
        with (
            ours(folder) as our_url,
            mlserver_served(mlserver, folder, Path(work) / "mlserver", parallel_workers=None) as shipped,
            mlserver_served(mlserver, folder, Path(work) / "mlserver-inline", parallel_workers=0) as inline,
        ):
            legs = [
                predict_leg("ours", our_url + "/predict"),
                mlserver_leg("mlserver", shipped),
                mlserver_leg("mlserver_parallel_workers_0", inline),
            ]
            for leg in legs:
                check_predictions(leg, model, rows)
            figures = measure(legs, rows, Path(work))
    print(json.dumps(summary(figures), indent=2))


def trained_model(work: Path) -> tuple[Path, LogisticRegression, np.ndarray]:
    rows, labels = make_classification(n_samples=2000, n_features=FEATURES, random_state=0)
    model = LogisticRegression(max_iter=500).fit(rows, labels)
    folder = work / "model"
    folder.mkdir()
    joblib.dump(model, folder / "model.joblib")
    return folder, model, rows


def mlserver_python() -> Path:
    """The python of a virtualenv with MLServer and its scikit-learn runtime, made once."""
    venv = CACHE / f"mlserver-{MLSERVER}"
    python = venv / "bin" / "python"
    if not (venv / "installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        import sklearn  # the same scikit-learn as ours, so that both load the same file

        packages = [
            f"mlserver=={MLSERVER}",
            f"mlserver-sklearn=={MLSERVER}",
            f"scikit-learn=={sklearn.__version__}",
            # MLServer 1.7.1's inference workers call asyncio.get_event_loop(), which uvloop 0.22+ refuses
            "uvloop==0.21.0",
        ]
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
        (venv / "installed").write_text("")
    return python


@contextlib.contextmanager
def ours(folder: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "AIP_STORAGE_URI": str(folder),
        "AIP_HTTP_PORT": str(port),
        "MLPLATFORM_HOST": "127.0.0.1",
    }
    with running(
        [sys.executable, "-m", "prediction_app.serving"], env, f"http://127.0.0.1:{port}/health"
    ) as url:
        yield url.removesuffix("/health")


@contextlib.contextmanager
def mlserver_served(python: Path, folder: Path, work: Path, parallel_workers: int | None) -> Iterator[str]:
    """`mlserver start` of the model folder, with MLServer's defaults but for the ports (and
    parallel_workers when given)."""
    work.mkdir()
    port = free_port()
    settings = {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "debug": False}
    if parallel_workers is not None:
        settings["parallel_workers"] = parallel_workers
    (work / "settings.json").write_text(json.dumps(settings))
    model = {"name": "model", "implementation": "mlserver_sklearn.SKLearnModel"}
    model["parameters"] = {"uri": str(folder / "model.joblib")}
    (work / "model-settings.json").write_text(json.dumps(model))
    command = [str(python.parent / "mlserver"), "start", str(work)]
    with running(command, {**os.environ}, f"http://127.0.0.1:{port}/v2/models/model/ready", cwd=work) as url:
        yield url.split("/v2/")[0]


@contextlib.contextmanager
def running(command: list[str], env: dict, ready: str, cwd: Path | None = None) -> Iterator[str]:
    """`command` in its own process until the block ends, once `ready` answers 200."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 120
            while not _ok(ready):
                if time.monotonic() > deadline or process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{command[0]} did not start:\n{log.read().decode()[-3000:]}")
                time.sleep(0.1)
            yield ready
        finally:
            process.terminate()
            process.wait(timeout=30)


def _ok(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
        return answer.status == 200
    return False


def check_predictions(leg: Leg, model: LogisticRegression, rows: np.ndarray) -> None:
    """The leg answers exactly the model's own predictions, or the benchmark stops."""
    for count in ROWS.values():
        sample = rows[:count]
        request = urllib.request.Request(leg.url, data=leg.body(sample), headers=leg.headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            found = leg.predictions(json.loads(answer.read()))
        if found != model.predict(sample).tolist():
            raise SystemExit(f"{leg.name} answered other predictions than the model's own: {found[:5]}...")


def measure(legs: list[Leg], rows: np.ndarray, work: Path) -> dict:
    """{leg: {payload: {concurrency: [round's figures, ...]}}}, the legs interleaved."""
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    figures: dict = {leg.name: {payload: {c: [] for c in CONCURRENCY} for payload in ROWS} for leg in legs}
    for _ in range(ROUNDS):
        for payload, count in ROWS.items():
            for concurrency in CONCURRENCY:
                for leg in legs:
                    body = work / f"{leg.name}-{payload}.json"
                    body.write_bytes(leg.body(rows[:count]))
                    wrk(leg, script, body, concurrency, 1)  # warm-up
                    figures[leg.name][payload][concurrency].append(
                        wrk(leg, script, body, concurrency, SECONDS)
                    )
    return figures


def wrk(leg: Leg, script: Path, body: Path, concurrency: int, seconds: int) -> dict:
    headers = "\n".join(f"{name}: {value}" for name, value in leg.headers.items())
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        leg.url,
    ]
    done = subprocess.run(
        command,
        env={**os.environ, "BENCH_BODY": str(body), "BENCH_HEADERS": headers},
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "requests_per_s": round(result["requests"] / result["seconds"], 1),
        "p50_ms": round(result["p50_us"] / 1000, 3),
        "p99_ms": round(result["p99_us"] / 1000, 3),
        "errors": result["errors"],
    }


def summary(figures: dict) -> dict:
    """Each leg's median round (by requests/s), and ours over each MLServer leg."""
    median = {
        leg: {
            payload: {str(c): _median(rounds) for c, rounds in by_c.items()}
            for payload, by_c in by_payload.items()
        }
        for leg, by_payload in figures.items()
    }
    ratios = {}
    for other in (name for name in median if name != "ours"):
        ratios[f"ours_over_{other}"] = {
            payload: {
                c: {
                    "requests_per_s": round(
                        ours["requests_per_s"] / median[other][payload][c]["requests_per_s"], 2
                    ),
                    "p99": round(ours["p99_ms"] / median[other][payload][c]["p99_ms"], 2),
                }
                for c, ours in by_c.items()
            }
            for payload, by_c in median["ours"].items()
        }
    return {
        "benchmark": "prediction",
        "model": f"LogisticRegression, {FEATURES} features, model.joblib",
        "load_generator": "wrk -t1 (kept connections)",
        "seconds_per_measure": SECONDS,
        "rounds": ROUNDS,
        "legs": median,
        "ratios": ratios,
        "rounds_requests_per_s": {
            leg: {
                p: {str(c): [r["requests_per_s"] for r in rounds] for c, rounds in by_c.items()}
                for p, by_c in bp.items()
            }
            for leg, bp in figures.items()
        },
        "aim": f"ours >= {AIM_RATIO}x mlserver's requests/s, p99 ratio <= 1",
    }


def _median(rounds: list[dict]) -> dict:
    return sorted(rounds, key=lambda figure: figure["requests_per_s"])[(len(rounds) - 1) // 2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
