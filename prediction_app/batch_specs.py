"""A batch prediction job's split plan and WorkloadSpec: pure functions of the typed request
(prediction_app.batch_inputs) and what the services looked up (the input files and their sizes, the
model, the workers the quota could ever hold). No queries, no settings, no branch on the backend.

Splits are byte ranges of the input files, as Hadoop's and Beam's text sources cut them: a line
belongs to the split its first byte lies in, so a reader of [start, end) skips to the first newline
at or after `start` (unless `start` is 0) and reads lines that start before or at `end`.
TFRecord files cannot be cut (a record's length prefix is not findable from the middle): each is one
split. Each worker gets a run of consecutive splits of about equal bytes; the plan travels in the
workers' environment (MLPLATFORM_BATCH_JOB), read by prediction_app.serving.batch.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from mlplatform.compute.spec import (
    ExitCodeAction,
    ExitCodeRule,
    FailurePolicy,
    LocalRun,
    ReplicaGroup,
    Resources,
    WorkloadKind,
    WorkloadSpec,
)
from mlplatform.core.errors import ApplicationError
from prediction_app.batch_inputs import PI, BatchInput
from training_app.jobs import JobPlan, workload_name

ROLE = "worker"
WORKER_MODULE = "prediction_app.serving.batch"
SOURCE_ROOT = str(Path(__file__).resolve().parents[1])
UNSPLITTABLE = ("TF_RECORD", "TF_RECORD_GZIP")
MAX_PLAN_BYTES = 64 * 1024  # one environment variable's value, well inside Linux's 128 KiB
BAD_MODEL_EXIT_CODE = 3  # the worker's, as the predictor's: retrying cannot help
RETRIES = 3  # a worker that dies (a node lost, the store unreachable) runs again this often
MAX_RUN_SECONDS = 7 * 24 * 3600
PLAN_VARIABLE = "MLPLATFORM_BATCH_JOB"


@dataclass(frozen=True)
class InputFile:
    uri: str
    size: int


@dataclass(frozen=True)
class Split:
    uri: str
    start: int
    end: int  # exclusive; a whole file is (0, size)


@dataclass(frozen=True)
class BatchModel:
    """The model's folder and how the predictor loads it (a version's fields, or none for a uri)."""

    uri: str
    framework: str = ""
    prediction_class: str = ""
    package_uris: tuple[str, ...] = ()


def split_plan(files: list[InputFile], *, workers: int, data_format: str) -> list[list[Split]]:
    """At most `workers` runs of consecutive splits: the files end to end, cut at every
    total / workers bytes (a file that cannot be cut goes whole to the run its first byte falls
    in); fewer runs when some would be empty. Empty files give no split."""
    total = sum(f.size for f in files)
    runs: list[list[Split]] = [[] for _ in range(max(min(workers, total), 1))]
    edges = [total * w // len(runs) for w in range(len(runs) + 1)]
    offset = 0  # the file's first byte in the files end to end
    for f in files:
        if data_format in UNSPLITTABLE:
            if f.size:
                runs[_run_of(edges, offset)].append(Split(f.uri, 0, f.size))
        else:
            for w, run in enumerate(runs):
                start, end = max(edges[w], offset), min(edges[w + 1], offset + f.size)
                if start < end:
                    run.append(Split(f.uri, start - offset, end - offset))
        offset += f.size
    return [run for run in runs if run]


def _run_of(edges: list[int], offset: int) -> int:
    return next(w for w in range(len(edges) - 1) if offset < edges[w + 1])


def batch_plan(
    request: BatchInput,
    *,
    job_id: str,
    files: list[InputFile],
    model: BatchModel,
    workers: int,
    resources: Resources,
    image: str,
    storage: tuple[str, ...],
    python: str = sys.executable,
    source_root: str = SOURCE_ROOT,
) -> JobPlan:
    """The workload of a batch prediction job: one `worker` replica per run of splits."""
    runs = split_plan(files, workers=workers, data_format=request.data_format)
    if not runs:
        raise ApplicationError(
            "The input files are all empty: there is nothing to predict.", field=f"{PI}.inputPaths"
        )
    job = {
        "job_id": job_id,
        "data_format": request.data_format,
        "output_format": request.output_format,
        "output_path": request.output_path,
        "batch_size": request.batch_size,
        "signature_name": request.signature_name,
        "model": {
            "uri": model.uri,
            "framework": model.framework,
            "prediction_class": model.prediction_class,
            "package_uris": list(model.package_uris),
        },
        "total_bytes": sum(f.size for f in files),
        "splits": [[[s.uri, s.start, s.end] for s in run] for run in runs],
    }
    value = json.dumps(job, separators=(",", ":")).replace("$", "$$")  # literal: no $(NAME) expansion
    if len(value) > MAX_PLAN_BYTES:
        raise ApplicationError(
            "Too many input files for one job: give fewer files (or larger ones).", field=f"{PI}.inputPaths"
        )
    env = {PLAN_VARIABLE: value, "PYTHONUNBUFFERED": "1"}
    group = ReplicaGroup(
        role=ROLE,
        count=len(runs),
        image=image,
        command=("python", "-m", WORKER_MODULE),
        env=env,
        resources=resources,
        # The local backend starts replicas in their own folders: the source's root goes on the path.
        local=LocalRun(command=(python, "-m", WORKER_MODULE), env={"PYTHONPATH": source_root}),
    )
    spec = WorkloadSpec(
        name=workload_name(job_id),
        kind=WorkloadKind.BATCH,
        groups=(group,),
        failure_policy=FailurePolicy(
            backoff_limit=RETRIES,
            rules=(ExitCodeRule(ExitCodeAction.FAIL_JOB, (BAD_MODEL_EXIT_CODE,)),),
            max_run_seconds=MAX_RUN_SECONDS,
        ),
        storage=storage,
    )
    return JobPlan(spec=spec)
