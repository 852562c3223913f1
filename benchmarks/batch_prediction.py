"""Benchmark: batch prediction's workers beside a bare loop of the same model over the same file.

    python -m benchmarks.batch_prediction      (BATCH_ROWS, default 1,000,000)

Trains a LogisticRegression on generated rows of FEATURES numbers, saves model.joblib in a local
bucket, and writes ROWS rows as JSON lines and as CSV. Each leg runs the real worker processes
(`python -m prediction_app.serving.batch`, as the local backend starts them, with the plan that
prediction_app.batch_specs.split_plan makes) with 1 and 2 workers at once, and the bare loop in one
process: read the lines, parse them (orjson, csv), predict in batches of BATCH_SIZE with the
model's own `predict`, write one JSON line per row. Rows/s are rows over wall time (worker start,
model load and shard commits included). Peak RSS per worker comes from the kernel (wait4's
ru_maxrss) with 1 worker over the JSON file and over one MEMORY_FACTOR times as long. Prints one
JSON object: rows/s per leg, each batch leg over the bare loop (aim: AIM_PER_WORKER per worker),
2 workers over 1 (aim: near 2 on two cores), and the peak RSS at 1x and 10x (aim: flat).

Not through the console: admission and a Celery worker add a few seconds before the workers start
and nothing per row, which is what this measures.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import orjson
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from prediction_app.batch_specs import InputFile, split_plan

ROOT = Path(__file__).resolve().parents[1]
ROWS = int(os.environ.get("BATCH_ROWS", "1000000"))
FEATURES = 8
BATCH_SIZE = 64
MEMORY_FACTOR = 10
AIM_PER_WORKER = 0.8


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlplatform-bench-batch-") as work:
        print(json.dumps(run(Path(work)), indent=2))


def run(work: Path) -> dict:
    buckets = work / "buckets"
    model = trained_model(buckets / "demo" / "models" / "bench")
    generate(buckets / "demo" / "in.jsonl", buckets / "demo" / "in.csv", ROWS)
    legs: dict[str, dict] = {}
    for data_format, key in (("JSON", "in.jsonl"), ("CSV", "in.csv")):
        path = buckets / "demo" / key
        bare = bare_loop(model, path, data_format, work / "bare.jsonl")
        one = workers(buckets, key, data_format, 1, f"{key}-1")
        two = workers(buckets, key, data_format, 2, f"{key}-2")
        legs[data_format] = {
            "bare_loop_rows_per_s": round(ROWS / bare),
            "workers_1_rows_per_s": round(ROWS / one["seconds"]),
            "workers_2_rows_per_s": round(ROWS / two["seconds"]),
            "workers_1_over_bare": round(bare / one["seconds"], 2),
            "workers_2_over_bare": round(bare / two["seconds"], 2),
            "workers_2_over_1": round(one["seconds"] / two["seconds"], 2),
            "peak_rss_mib_per_worker": {"1": one["peak_rss_mib"], "2": two["peak_rss_mib"]},
        }
    long_rows = ROWS * MEMORY_FACTOR
    generate(buckets / "demo" / "long.jsonl", None, long_rows)
    (buckets / "demo" / "in.jsonl").unlink()
    long = workers(buckets, "long.jsonl", "JSON", 1, "long-1")
    return {
        "rows": ROWS,
        "features": FEATURES,
        "batch_size": BATCH_SIZE,
        "cpus": os.cpu_count(),
        "legs": legs,
        "memory": {
            "rows_1x": ROWS,
            "peak_rss_mib_1x": legs["JSON"]["peak_rss_mib_per_worker"]["1"][0],
            "rows_10x": long_rows,
            "peak_rss_mib_10x": long["peak_rss_mib"][0],
            "rows_per_s_10x": round(long_rows / long["seconds"]),
        },
        "aim": {"per_worker_over_bare": AIM_PER_WORKER, "two_over_one": "near 2", "rss": "flat"},
    }


def trained_model(folder: Path) -> LogisticRegression:
    features, labels = make_classification(n_samples=2000, n_features=FEATURES, random_state=0)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    folder.mkdir(parents=True)
    joblib.dump(model, folder / "model.joblib")
    return model


def generate(jsonl: Path, csv_path: Path | None, rows: int) -> None:
    """`rows` rows of FEATURES numbers (4 decimals), in chunks: never all in memory."""
    rng = np.random.default_rng(0)
    with open(jsonl, "w") as js, open(csv_path, "w") if csv_path else open(os.devnull, "w") as cs:
        for done in range(0, rows, 100_000):
            chunk = np.round(rng.normal(size=(min(100_000, rows - done), FEATURES)), 4).tolist()
            js.write("".join(json.dumps(row) + "\n" for row in chunk))
            if csv_path:
                cs.write("".join(",".join(map(str, row)) + "\n" for row in chunk))


def bare_loop(model, path: Path, data_format: str, out: Path) -> float:
    """Seconds for the plainest loop: parse each line, predict every BATCH_SIZE rows, write lines."""
    started = time.perf_counter()
    parse = (
        orjson.loads if data_format == "JSON" else lambda line: [float(v) for v in next(csv.reader([line]))]
    )
    with open(path, "rb") as rows, open(out, "wb") as results:
        batch = []

        def flush():
            for row, value in zip(batch, model.predict(np.asarray(batch)), strict=True):
                results.write(
                    orjson.dumps({"instance": row, "prediction": value}, option=orjson.OPT_SERIALIZE_NUMPY)
                )
                results.write(b"\n")
            batch.clear()

        for line in rows:
            batch.append(parse(line if data_format == "JSON" else line.decode()))
            if len(batch) == BATCH_SIZE:
                flush()
        if batch:
            flush()
    return time.perf_counter() - started


def workers(buckets: Path, key: str, data_format: str, count: int, name: str) -> dict:
    """Wall seconds of `count` workers over the file, and each one's peak RSS in MiB."""
    size = (buckets / "demo" / key).stat().st_size
    runs = split_plan([InputFile(f"gs://demo/{key}", size)], workers=count, data_format=data_format)
    output = f"gs://demo/out/{name}/"
    job = {
        "job_id": name,
        "data_format": data_format,
        "output_format": "JSON",
        "output_path": output,
        "batch_size": BATCH_SIZE,
        "signature_name": "",
        "model": {"uri": "gs://demo/models/bench", "framework": "SCIKIT_LEARN"},
        "total_bytes": size,
        "splits": [[[s.uri, s.start, s.end] for s in run] for run in runs],
    }
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "MLPLATFORM_LOCAL_BUCKETS": str(buckets),
        "MLPLATFORM_BATCH_JOB": json.dumps(job),
        "OMP_NUM_THREADS": "1",  # one core per worker, as its quota says
    }
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "prediction_app.serving.batch"],
            env={**env, "MLPLATFORM_REPLICA_INDEX": str(index)},
            stdout=subprocess.DEVNULL,
        )
        for index in range(len(runs))
    ]
    peaks = []
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise SystemExit(f"worker {process.args} failed with exit code {process.returncode}")
        peaks.append(round(usage.ru_maxrss / 1024, 1))  # KiB on Linux
    seconds = time.perf_counter() - started
    counted = sum(
        1
        for shard in (buckets / "demo" / "out" / name).glob("prediction.results-*")
        for _ in open(shard, "rb")  # noqa: SIM115 - closed when the generator ends
    )
    if counted != ROWS * (MEMORY_FACTOR if key == "long.jsonl" else 1):
        raise SystemExit(f"{name}: {counted} results for {ROWS} rows")
    shutil.rmtree(buckets / "demo" / "out" / name)
    return {"seconds": seconds, "peak_rss_mib": peaks}


if __name__ == "__main__":
    main()
