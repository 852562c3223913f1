"""Batch prediction jobs, the `predictionInput` kind of `projects.jobs` (training_app.jobs): the plan
of a job (its input checked against the project's buckets and models, its files listed and split),
its predictionOutput and its progress. Create, get, list and cancel are the jobs' own.

Progress comes from the workers' logs (the channel every backend already keeps per replica): the
last `mlplatform batch: progress` line of each worker. The final counts come from the markers the
workers commit next to their shards, so they outlive the workers and their logs.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass

from django.conf import settings

from mlplatform.compute.selectors import replicas_ever_admissible, workload_log_tail
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.quotas.amounts import Amounts
from mlplatform.storage.selectors import connection_for_uri, object_open, object_stat, objects_list
from mlplatform.storage.uris import ObjectUri, parse_uri
from prediction_app import selectors
from prediction_app.batch_inputs import PI, WILDCARDS, BatchInput, batch_input_from_json
from prediction_app.batch_specs import ROLE, BatchModel, InputFile, batch_plan
from prediction_app.services import DEFAULT_SHAPE, MODEL_FILES
from prediction_app.serving.batch import PROGRESS_MARK, shard_names
from training_app.jobs import JobPlan

LOG_LINES = 20
PROGRESS = re.compile(r"(\w+)=(\d+)")
MAX_FILES = 10_000


@dataclass(frozen=True)
class WorkerProgress:
    index: int
    rows: int = 0
    predictions: int = 0
    errors: int = 0
    bytes_done: int = 0
    bytes_total: int = 0


@dataclass(frozen=True)
class BatchProgress:
    """Rows done of the rows known so far, and the share of the input's bytes read (the bar)."""

    workers: tuple[WorkerProgress, ...]
    total_bytes: int

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.workers)

    @property
    def errors(self) -> int:
        return sum(w.errors for w in self.workers)

    @property
    def percent(self) -> int:
        done = sum(w.bytes_done for w in self.workers)
        return min(100, round(100 * done / self.total_bytes)) if self.total_bytes else 0

    @property
    def rows_known(self) -> int:
        """The rows the input holds, as far as the bytes read so far tell."""
        done = sum(w.bytes_done for w in self.workers)
        return round(self.rows * self.total_bytes / done) if done else 0


def batch_prediction_plan(*, project: Project, job_id: str, input: dict, labels: dict) -> JobPlan:
    """What a job's predictionInput asks for, checked against what the project reaches and holds.
    Raises ApplicationError naming the field; nothing is written then."""
    request = batch_input_from_json(input)
    model, model_connection = _model(project, request)
    files, input_connections = _input_files(project, request)
    output_connection = _check_output(project, request.output_path)
    most = replicas_ever_admissible(
        project=project, replica=Amounts.of(DEFAULT_SHAPE), flavor=DEFAULT_SHAPE.flavor
    )
    if most < 1:
        raise ApplicationError(
            "The project's quota cannot hold even one prediction worker (1 vCPU, 2 GiB).",
            field=f"{PI}.maxWorkerCount",
        )
    return batch_plan(
        request,
        job_id=job_id,
        files=files,
        model=model,
        workers=min(request.max_workers, most),
        resources=DEFAULT_SHAPE,
        image=settings.PREDICTOR_IMAGE,
        storage=tuple(sorted({model_connection, output_connection, *input_connections})),
    )


def batch_prediction_output(job) -> dict:
    """predictionOutput: the counts of the shards committed so far, the node hours, outputPath."""
    output_path = job.input.get("outputPath", "").rstrip("/") + "/"
    counts = {"predictionCount": 0, "errorCount": 0}
    for marker in _markers(job, output_path):
        for key in counts:
            counts[key] += int(marker.get(key, 0))
    workload = job.workload
    hours = 0.0
    if workload.started_at:
        end = workload.finished_at or workload.updated_at
        workers = sum(group.get("count", 1) for group in workload.spec.get("groups", []))
        hours = max((end - workload.started_at).total_seconds(), 0) * workers / 3600
    return {
        "outputPath": output_path,
        "predictionCount": str(counts["predictionCount"]),  # int64 travels as a string
        "errorCount": str(counts["errorCount"]),
        "nodeHours": round(hours, 6),
    }


def batch_prediction_progress(job) -> BatchProgress:
    """Each worker's last progress line (none yet: nothing done)."""
    workload = job.workload
    group = next(iter(workload.spec.get("groups", [])), {})
    plan = json.loads(group.get("env", {}).get("MLPLATFORM_BATCH_JOB", "{}").replace("$$", "$"))
    workers = []
    for index in range(group.get("count", 0)):
        lines = workload_log_tail(workload=workload, role=ROLE, index=index, lines=LOG_LINES) or []
        line = next((line for line in reversed(lines) if PROGRESS_MARK in line), "")
        figures = {name: int(value) for name, value in PROGRESS.findall(line)}
        workers.append(
            WorkerProgress(
                index=index,
                rows=figures.get("rows", 0),
                predictions=figures.get("predictions", 0),
                errors=figures.get("errors", 0),
                bytes_done=figures.get("bytes", 0),
                bytes_total=figures.get("of", 0),
            )
        )
    return BatchProgress(workers=tuple(workers), total_bytes=plan.get("total_bytes", 0))


def batch_prediction_page_progress(job) -> dict:
    """What a job's page shows of its progress: the bar's percent, rows done of rows known, errors."""
    progress = batch_prediction_progress(job)
    done = job.workload.state == "SUCCEEDED"
    return {
        "percent": 100 if done else progress.percent,
        "rows": progress.rows,
        "rows_known": progress.rows if done else max(progress.rows_known, progress.rows),
        "errors": progress.errors,
        "workers": progress.workers,
    }


# --- look-ups ---------------------------------------------------------------------------------------


def _model(project: Project, request: BatchInput) -> tuple[BatchModel, str]:
    """The model's folder and loader fields, and the connection that reaches the folder."""
    ref = request.model
    if ref.uri:
        field = f"{PI}.uri"
        uri = parse_uri(ref.uri + "/", field=field)
        connection = _connection(project, uri, field)
        names = {o.key.rsplit("/", 1)[-1] for o in _listed(project, uri, field)}
        wanted = {name for files in MODEL_FILES.values() for name in files}
        if not names & wanted:
            raise ApplicationError(
                f"No model files at {ref.uri}: expected one of {', '.join(sorted(wanted))}.", field=field
            )
        return BatchModel(uri=ref.uri), connection
    field = f"{PI}.{'versionName' if ref.version else 'modelName'}"
    if ref.project != project.slug:
        raise ApplicationError(f"The model must be one of project '{project.slug}'.", field=field)
    try:
        model = selectors.model_get(project=project, name=ref.model)
        version = (
            selectors.version_get(model=model, name=ref.version) if ref.version else model.default_version
        )
    except ApplicationError as exc:
        raise ApplicationError(exc.message, field=field) from exc
    if version is None:
        raise ApplicationError(
            f"Model {ref.model} has no default version: name one with versionName.", field=field
        )
    if not version.deployment_uri:
        raise ApplicationError(
            f"Version {version.name} is a custom container: batch prediction needs a model's files.",
            field=field,
        )
    connection = _connection(project, parse_uri(version.deployment_uri, field=field), field)
    return (
        BatchModel(
            uri=version.deployment_uri.rstrip("/"),
            framework=version.framework,
            prediction_class=version.prediction_class,
            package_uris=tuple(version.package_uris or ()),
        ),
        connection,
    )


def _input_files(project: Project, request: BatchInput) -> tuple[list[InputFile], set[str]]:
    """Every file the input paths name, wildcards expanded through the store, in a stable order."""
    files: dict[str, InputFile] = {}
    connections = set()
    for i, path in enumerate(request.input_paths):
        field = f"{PI}.inputPaths[{i}]"
        uri = parse_uri(path, field=field)
        connections.add(_connection(project, uri, field))
        if WILDCARDS.search(uri.key):
            folder, _, pattern = uri.key.rpartition("/")
            parent = ObjectUri(uri.scheme, uri.bucket, folder + "/" if folder else "")
            found = [
                InputFile(f"{uri.scheme}://{uri.bucket}/{o.key}", o.size)
                for o in _listed(project, parent, field)
                if fnmatch.fnmatchcase(o.key.rsplit("/", 1)[-1], pattern)
            ]
        else:
            try:
                found = [InputFile(path, object_stat(project=project, uri=uri).size)]
            except ApplicationError as exc:
                raise ApplicationError(f"Input file {path} was not found.", field=field) from exc
        if not found:
            raise ApplicationError(f"No input file matches {path}.", field=field)
        files.update((f.uri, f) for f in sorted(found, key=lambda f: f.uri))
        if len(files) > MAX_FILES:
            raise ApplicationError(f"The input paths name more than {MAX_FILES} files.", field=field)
    return list(files.values()), connections


def _check_output(project: Project, output_path: str) -> str:
    """The output folder's connection; refused when it already holds a job's results."""
    field = f"{PI}.outputPath"
    uri = parse_uri(output_path, field=field)
    connection = _connection(project, uri, field)
    try:
        held = [o.key.rsplit("/", 1)[-1] for o in _listed(project, uri, field)]
    except ApplicationError as exc:
        if exc.code != ErrorCode.INVALID_ARGUMENT or "was not found" not in exc.message:
            raise
        held = []  # a folder that does not exist yet
    if any(name.startswith("prediction.results-") for name in held):
        raise ApplicationError(
            f"{output_path} already holds prediction results: choose an empty folder.", field=field
        )
    return connection


def _connection(project: Project, uri: ObjectUri, field: str) -> str:
    """The connection's name; storage's 403 becomes INVALID_ARGUMENT on the field, as AI Platform's."""
    try:
        return connection_for_uri(project=project, uri=uri).name
    except ApplicationError as exc:
        raise ApplicationError(exc.message, field=field) from exc


def _listed(project: Project, folder: ObjectUri, field: str):
    """Every object directly in `folder`, page after page."""
    token = None
    while True:
        try:
            page = objects_list(project=project, uri=folder, page_token=token)
        except ApplicationError as exc:
            raise ApplicationError(exc.message, field=field) from exc
        yield from page.objects
        token = page.next_page_token
        if not token:
            return


def _markers(job, output_path: str):
    """The counts of each worker whose shard is committed."""
    groups = job.workload.spec.get("groups", [])
    count = groups[0].get("count", 0) if groups else 0
    for index in range(count):
        uri = parse_uri(shard_names(output_path, index, count)[2])
        try:
            _, chunks = object_open(project=job.project, uri=uri)
            yield json.loads(b"".join(chunks))
        except (ApplicationError, ValueError):
            continue  # not committed (yet), or the folder's connection is gone
