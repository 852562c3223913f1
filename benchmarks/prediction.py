"""Benchmark: our predictor server beside MLServer's scikit-learn runtime, on the same model file,
and the console's `:predict` in front of ours.

    python -m benchmarks.prediction          (DATABASE_URL and REDIS_URL, else throwaway embedded ones)

Trains a small LogisticRegression on generated data, saves model.joblib once, and serves it with
`python -m prediction_app.serving` (AI Platform's protocol) and with MLServer 1.7.1 (`mlserver` and
`mlserver-sklearn`, V2 inference protocol, in a virtualenv made once under CACHE), both as shipped
and with `parallel_workers: 0` (inference in its own event loop, no worker process). Ours is a
real version: in a scratch database (benchmarks/console.py), the file goes to a local bucket, the
services create model `bench` and its version v1, and a real Celery worker on the local backend
starts our predictor for it until the version is READY; the console runs under uvicorn as
runconsole serves it, and the `console` leg posts to its `.../versions/v1:predict` with an
editor's bearer token, the `ours` leg straight to that same replica. Every leg's predictions are
checked identical to the model's own first; then `wrk` (Debian's, one thread, kept connections:
C, so the load generator is not the bottleneck) posts one-row and 100-row payloads at concurrency
1, 8 and 32, the legs interleaved, ROUNDS times. Prints one JSON object: requests/s, p50 and p99
in milliseconds and errors per leg, payload and concurrency (the median round); ours over
MLServer's (aim: at least AIM_RATIO, p99 no worse); and the console's figures with its
requests/s over ours direct and over each MLServer leg (aim: at least CONSOLE_AIM_RATIO over
MLServer direct).

`predict_leg(name, url, headers)` measures any URL that speaks AI Platform's `:predict`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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

from benchmarks.console import console, editor, free_port, scratch_database

MLSERVER = "1.7.1"
CACHE = Path(os.environ.get("MLPLATFORM_BENCH_CACHE", Path.home() / ".cache" / "mlplatform-bench"))
CONCURRENCY = (1, 8, 32)
ROWS = {"one_row": 1, "100_rows": 100}
FEATURES = 20
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
AIM_RATIO = 1.5
CONSOLE_AIM_RATIO = 1.0  # through the console, over MLServer direct
QUEUE = "benchmark-prediction"
PROJECT = MODEL = "bench"
VERSION = {
    "name": "v1",
    "deploymentUri": f"gs://{PROJECT}/models/{MODEL}/",
    "runtimeVersion": "2.11",
    "pythonVersion": "3.7",
    "framework": "SCIKIT_LEARN",
}
PREDICT_PATH = f"/v1/projects/{PROJECT}/models/{MODEL}/versions/{VERSION['name']}:predict"
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
        sys.exit("benchmarks.prediction needs wrk: apt-get install -y wrk (make bench installs it)")
    mlserver = mlserver_python()
    with tempfile.TemporaryDirectory(prefix="bench-prediction-") as work:
        folder, model, rows = trained_model(Path(work))
        with (
            deployed(folder) as (console_url, token, replica),
            mlserver_served(mlserver, folder, Path(work) / "mlserver", parallel_workers=None) as shipped,
            mlserver_served(mlserver, folder, Path(work) / "mlserver-inline", parallel_workers=0) as inline,
        ):
            legs = [
                predict_leg("console", console_url + PREDICT_PATH, {"Authorization": f"Bearer {token}"}),
                predict_leg("ours", replica + "/predict"),
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
def deployed(folder: Path) -> Iterator[tuple[str, str, str]]:
    """The model file as version v1 of model `bench` in project `bench` (from local bucket `bench`),
    created through the services and READY on the local backend, whose worker (a real Celery worker
    in this process) starts our predictor for it; the console served by uvicorn as runconsole does.
    Yields the console's URL, an editor's bearer token and the version's replica (what `:predict`
    forwards to)."""
    with scratch_database("mlplatform-bench-prediction-") as database_url:
        from django.conf import settings

        from mlplatform.celery import app
        from mlplatform.compute.backends import get_backend
        from mlplatform.storage.services import storage_connection_create
        from prediction_app import services
        from tests.conftest import running_celery_worker

        app.conf.task_default_queue = QUEUE
        project, user, token = editor(PROJECT)
        bucket = Path(settings.STORAGE_LOCAL_ROOT) / PROJECT
        (bucket / "models" / MODEL).mkdir(parents=True)
        shutil.copy(folder / "model.joblib", bucket / "models" / MODEL / "model.joblib")
        storage_connection_create(
            project=project, name="local", kind="local", buckets=[PROJECT], make_default=True
        )
        with console(database_url, QUEUE) as url, running_celery_worker():
            model = services.model_create(project=project, body={"name": MODEL}, user=user)
            services.version_create(model=model, body=VERSION, user=user)
            try:
                yield url, token, ready(model)
            finally:
                get_backend().collect_garbage(set())


def ready(model) -> str:
    """The replica's URL once the version is READY; beat's syncs run meanwhile."""
    from mlplatform.compute.selectors import workload_endpoint
    from mlplatform.compute.tasks import sync_workloads
    from prediction_app.models import Version
    from prediction_app.specs import PORT, ROLE
    from prediction_app.tasks import sync_versions

    deadline = time.monotonic() + 180
    while True:
        sync_workloads.delay()
        sync_versions.delay()
        version = Version.objects.select_related("workload").get(model=model, name=VERSION["name"])
        if version.state == Version.State.READY:
            return workload_endpoint(workload=version.workload, role=ROLE, port=PORT).url
        if version.state == Version.State.FAILED or time.monotonic() > deadline:
            raise SystemExit(f"the version did not get READY: {version.state} {version.error_message}")
        time.sleep(0.25)


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
    """Each leg's median round (by requests/s); ours over each MLServer leg; the console's figures
    beside its ratios over ours direct and over each MLServer leg."""
    median = {
        leg: {
            payload: {str(c): _median(rounds) for c, rounds in by_c.items()}
            for payload, by_c in by_payload.items()
        }
        for leg, by_payload in figures.items()
    }
    mlservers = [name for name in median if name.startswith("mlserver")]
    ratios = {f"ours_over_{other}": _ratios(median, "ours", other) for other in mlservers}
    ratios |= {f"console_over_{other}": _ratios(median, "console", other) for other in ["ours", *mlservers]}
    console = {
        payload: {
            c: {
                **figure,
                **{
                    f"over_{other}": ratios[f"console_over_{other}"][payload][c]["requests_per_s"]
                    for other in ["ours", *mlservers]
                },
            }
            for c, figure in by_c.items()
        }
        for payload, by_c in median["console"].items()
    }
    return {
        "benchmark": "prediction",
        "model": f"LogisticRegression, {FEATURES} features, model.joblib",
        "load_generator": "wrk -t1 (kept connections)",
        "seconds_per_measure": SECONDS,
        "rounds": ROUNDS,
        "console": console,
        "legs": median,
        "ratios": ratios,
        "rounds_requests_per_s": {
            leg: {
                p: {str(c): [r["requests_per_s"] for r in rounds] for c, rounds in by_c.items()}
                for p, by_c in bp.items()
            }
            for leg, bp in figures.items()
        },
        "aim": (
            f"ours >= {AIM_RATIO}x mlserver's requests/s, p99 ratio <= 1; "
            f"through the console (:predict, bearer token) >= {CONSOLE_AIM_RATIO}x mlserver direct"
        ),
    }


def _ratios(median: dict, leg: str, other: str) -> dict:
    """`leg`'s requests/s and p99 over `other`'s, per payload and concurrency."""
    return {
        payload: {
            c: {
                "requests_per_s": round(
                    mine["requests_per_s"] / median[other][payload][c]["requests_per_s"], 2
                ),
                "p99": round(mine["p99_ms"] / median[other][payload][c]["p99_ms"], 2),
            }
            for c, mine in by_c.items()
        }
        for payload, by_c in median[leg].items()
    }


def _median(rounds: list[dict]) -> dict:
    return sorted(rounds, key=lambda figure: figure["requests_per_s"])[(len(rounds) - 1) // 2]


if __name__ == "__main__":
    main()
