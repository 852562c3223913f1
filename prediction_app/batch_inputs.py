"""A batch prediction job's `predictionInput` (ml v1 PredictionInput) read into a typed request.

Shapes only: the formats, the paths' syntax, which one of modelName, versionName and uri names the
model, and the counts. Whether the files exist, the project reaches the buckets and the model has a
default version is for the look-ups (prediction_app.batch_services). Every refusal is an
ApplicationError naming the JSON path, e.g. predictionInput.dataFormat.

Beyond Google: CSV input (one row of values per line) and output, and models of every framework the
predictor serves, not only TensorFlow. `region` and `runtimeVersion` are accepted and change nothing
here (the predictor's own Python runs every job).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlplatform.core.errors import ApplicationError
from mlplatform.gcp import proto
from mlplatform.storage.uris import parse_uri

PI = "predictionInput"
INPUT_FORMATS = ("JSON", "TEXT", "TF_RECORD", "TF_RECORD_GZIP", "CSV")
OUTPUT_FORMATS = ("JSON", "CSV")
DEFAULT_WORKERS = 10
DEFAULT_BATCH_SIZE = 64
MAX_BATCH_SIZE = 100_000
MAX_INPUT_PATHS = 100
WILDCARDS = re.compile(r"[*?\[]")
MODEL_NAME = re.compile(r"^projects/([^/]+)/models/([A-Za-z][A-Za-z0-9_]*)\Z")
VERSION_NAME = re.compile(
    r"^projects/([^/]+)/models/([A-Za-z][A-Za-z0-9_]*)/versions/([A-Za-z][A-Za-z0-9_]*)\Z"
)
FIELDS = {
    "dataFormat", "outputDataFormat", "inputPaths", "outputPath", "modelName", "versionName", "uri",
    "maxWorkerCount", "batchSize", "signatureName", "runtimeVersion", "region",
}  # fmt: skip


@dataclass(frozen=True)
class ModelRef:
    """Which model predicts: a model's default version, one version, or a folder of model files."""

    project: str = ""  # of modelName or versionName
    model: str = ""
    version: str = ""  # '' with modelName: the model's default version
    uri: str = ""  # a model folder (gs:// or s3://) instead of a version


@dataclass(frozen=True)
class BatchInput:
    data_format: str
    output_format: str
    input_paths: tuple[str, ...]  # as given: wildcards are expanded against the store at submit
    output_path: str  # always ends with '/'
    model: ModelRef
    max_workers: int
    batch_size: int
    signature_name: str
    runtime_version: str
    region: str


def batch_input_from_json(value) -> BatchInput:
    """The typed request of a predictionInput body; raises ApplicationError naming the field."""
    pi = proto.message(value, field=PI)
    proto.check_fields(pi, FIELDS, type_name="PredictionInput", path=PI)
    data_format = _format(pi.get("dataFormat"), INPUT_FORMATS, "dataFormat", required=True)
    output_format = _format(pi.get("outputDataFormat"), OUTPUT_FORMATS, "outputDataFormat") or "JSON"
    paths = proto.strings(pi.get("inputPaths"), field=f"{PI}.inputPaths")
    if not paths:
        raise ApplicationError("is required: the input files (wildcards allowed).", field=f"{PI}.inputPaths")
    if len(paths) > MAX_INPUT_PATHS:
        raise ApplicationError(f"at most {MAX_INPUT_PATHS} paths.", field=f"{PI}.inputPaths")
    for i, path in enumerate(paths):
        _input_path(path, f"{PI}.inputPaths[{i}]")
    output = proto.string(pi.get("outputPath"), field=f"{PI}.outputPath")
    if not output:
        raise ApplicationError("is required: the folder for the results.", field=f"{PI}.outputPath")
    if WILDCARDS.search(output):
        raise ApplicationError("must be a folder, without wildcards.", field=f"{PI}.outputPath")
    parse_uri(output, field=f"{PI}.outputPath")
    workers = _count(pi.get("maxWorkerCount"), "maxWorkerCount", DEFAULT_WORKERS)
    batch_size = _count(pi.get("batchSize"), "batchSize", DEFAULT_BATCH_SIZE)
    if batch_size > MAX_BATCH_SIZE:
        raise ApplicationError(f"at most {MAX_BATCH_SIZE}.", field=f"{PI}.batchSize")
    return BatchInput(
        data_format=data_format,
        output_format=output_format,
        input_paths=paths,
        output_path=output.rstrip("/") + "/",
        model=_model(pi),
        max_workers=workers,
        batch_size=batch_size,
        signature_name=proto.string(pi.get("signatureName"), field=f"{PI}.signatureName"),
        runtime_version=proto.string(pi.get("runtimeVersion"), field=f"{PI}.runtimeVersion"),
        region=proto.string(pi.get("region"), field=f"{PI}.region"),
    )


def _format(value, allowed: tuple[str, ...], name: str, *, required: bool = False) -> str:
    given = proto.string(value, field=f"{PI}.{name}")
    if given in ("", "DATA_FORMAT_UNSPECIFIED"):
        if required:
            raise ApplicationError(f"is required: one of {', '.join(allowed)}.", field=f"{PI}.{name}")
        return ""
    if given not in allowed:
        raise ApplicationError(
            f"'{given}' is not offered here; use one of {', '.join(allowed)}.", field=f"{PI}.{name}"
        )
    return given


def _input_path(path: str, field: str) -> None:
    """gs:// or s3:// objects; wildcards only in the last part (the file's name)."""
    uri = parse_uri(path, field=field)
    folder, _, name = uri.key.rpartition("/")
    if WILDCARDS.search(folder):
        raise ApplicationError("wildcards may only stand in the file's name.", field=field)
    if not name:
        raise ApplicationError("must name files, e.g. gs://bucket/in/*.jsonl.", field=field)


def _model(pi: dict) -> ModelRef:
    given = [name for name in ("modelName", "versionName", "uri") if pi.get(name)]
    if len(given) != 1:
        field = f"{PI}.{given[1] if given else 'modelName'}"
        raise ApplicationError("Give exactly one of modelName, versionName or uri.", field=field)
    name = given[0]
    value = proto.string(pi[name], field=f"{PI}.{name}")
    if name == "uri":
        parse_uri(value, field=f"{PI}.uri")
        return ModelRef(uri=value.rstrip("/"))
    pattern, example = (
        (MODEL_NAME, "projects/P/models/M")
        if name == "modelName"
        else (VERSION_NAME, "projects/P/models/M/versions/V")
    )
    match = pattern.match(value)
    if match is None:
        raise ApplicationError(f"'{value}' is not of the form {example}.", field=f"{PI}.{name}")
    project, model, *version = match.groups()
    return ModelRef(project=project, model=model, version=version[0] if version else "")


def _count(value, name: str, default: int) -> int:
    if value in (None, "", 0, "0"):
        return default
    return proto.int64(value, field=f"{PI}.{name}", minimum=1)
