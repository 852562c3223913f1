"""One worker of a batch prediction job: `python -m prediction_app.serving.batch`.

It reads the job's plan from MLPLATFORM_BATCH_JOB (prediction_app.batch_specs writes it) and its
index from MLPLATFORM_REPLICA_INDEX, loads the model with the predictor's loaders, streams its
splits (byte ranges of text files, whole TFRecord files), predicts in batches of batchSize and
writes, as AI Platform does, `prediction.results-0000i-of-0000N` (one JSON line per instance:
`{"instance": ..., "prediction": ...}`, or a CSV row of the instance's values then the prediction's)
and `prediction.errors_stats-0000i-of-0000N` (one line per reason, `('reason: where', count)`).

A row that is not JSON (or CSV), or that the model cannot take, is counted and named in errors_stats;
it never stops the job. Both shards are written to local files and committed whole (a rename, or one
upload), then a marker `.mlplatform/shard-0000i-of-0000N.json` with the counts; a retried worker that
finds its marker exits at once, so no shard is ever written twice or left half-written.

Progress goes to the log, the channel every backend already keeps per replica: a line
`mlplatform batch: progress rows=R predictions=P errors=E bytes=B of=T` every few seconds and at the
end. Failures end with one line: "Bad model detected with error: ..." and exit code 3 when the model
cannot load (never retried), `mlplatform batch: ...` and exit code 1 when a store fails (retried).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from prediction_app.serving import objects
from prediction_app.serving.models import Model, load_model, reason
from prediction_app.serving.storage import ModelError, install_packages, model_folder

PLAN_VARIABLE = "MLPLATFORM_BATCH_JOB"
BAD_MODEL_EXIT_CODE = 3
STORE_EXIT_CODE = 1
PROGRESS_MARK = "mlplatform batch: progress"
PROGRESS_SECONDS = 2.0
NAMED_ROWS = 10  # rows named per reason in errors_stats
MARKER_FOLDER = ".mlplatform"
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE


class BadRow(ValueError):
    """A row that is not an instance: counted and named, never fatal."""


def shard_names(output_path: str, index: int, count: int) -> tuple[str, str, str]:
    """The URIs of a worker's results, errors_stats and commit marker."""
    shard = f"{index:05d}-of-{count:05d}"
    return (
        f"{output_path}prediction.results-{shard}",
        f"{output_path}prediction.errors_stats-{shard}",
        f"{output_path}{MARKER_FOLDER}/shard-{shard}.json",
    )


# --- reading -------------------------------------------------------------------------------------


def lines_in(chunks: Iterator[bytes], start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of the lines whose first byte lies in [start, end), from `chunks` of the file
    read from max(start - 1, 0): a split that starts inside a line leaves it to the split before."""
    position = max(start - 1, 0)
    skipping = start > 0
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            line_start, position = position, position + len(line) + 1
            if skipping:
                skipping = False
                continue
            if line_start >= end:
                return
            yield line_start, line
    if rest and not skipping and position < end:
        yield position, rest


def instance_of(line: bytes, data_format: str):
    """The instance a line (or a TFRecord record) holds; raises BadRow."""
    if data_format == "CSV":
        try:
            values = next(csv.reader([line.decode()]))
        except (UnicodeDecodeError, csv.Error, StopIteration) as exc:
            raise BadRow(f"not a CSV row: {reason(exc)}") from None
        try:
            return [float(value) for value in values]
        except ValueError:  # a row with text in it: numbers where they read as such
            return [_number(value) for value in values]
    if data_format.startswith("TF_RECORD"):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:  # a serialized tf.Example or other bytes
            return {"b64": base64.b64encode(line).decode()}
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadRow(f"not JSON: {reason(exc)}") from None


def _number(value: str):
    """A CSV field as a number where it reads as one, else as it is."""
    try:
        return float(value)
    except ValueError:
        return value


def rows(job: dict, splits: list, work: Path, progress) -> Iterator[tuple[tuple, object]]:
    """(where, instance or BadRow) of every row of the worker's splits, in order; `where` is
    (uri, "record" or "byte", number), put in words only for a row that fails (where())."""
    data_format = job["data_format"]
    for uri, start, end in splits:
        if data_format.startswith("TF_RECORD"):
            # The tfrecord library reads records from a local file; TFRecords are never cut.
            from tfrecord.reader import tfrecord_iterator

            path = objects.local_copy(uri, work / "input")
            compression = "gzip" if data_format == "TF_RECORD_GZIP" else None
            for number, record in enumerate(tfrecord_iterator(str(path), compression_type=compression), 1):
                yield (uri, "record", number), _guarded(bytes(record), data_format)
            progress.bytes_done += end - start
            continue
        done = start
        for offset, line in lines_in(objects.read_from(uri, max(start - 1, 0)), start, end):
            progress.bytes_done += offset - done
            done = offset
            if line.strip():
                yield (uri, "byte", offset), _guarded(line, data_format)
        progress.bytes_done += end - done


def where(place: tuple) -> str:
    uri, unit, number = place
    return f"{uri} {unit} {number}"


def _guarded(line: bytes, data_format: str):
    try:
        return instance_of(line, data_format)
    except BadRow as exc:
        return exc


# --- predicting ----------------------------------------------------------------------------------


def predict(model: Model, instances: list, keywords: dict) -> tuple[list, list[str | None] | None]:
    """The batch's predictions, and None; or, where the model refuses the batch, it is tried row by
    row, so one bad row fails only itself: the predictions (None for a failed row) and per row the
    reason it failed (None for a predicted one)."""
    try:
        predictions = model.predict(model.inputs(instances), **keywords)
        # plain Python values at C speed (orjson and csv write them without a call per value)
        predictions = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
        if len(predictions) != len(instances):
            raise ValueError(
                f"the model answered {len(predictions)} predictions for {len(instances)} instances"
            )
        return predictions, None
    except Exception as exc:  # the user's model: anything it raises is that batch's failure
        if len(instances) == 1:
            return [None], [f"the model cannot take it: {reason(exc)}"]
    predictions, failures = [], []
    for instance in instances:
        [prediction], failed = predict(model, [instance], keywords)
        predictions.append(prediction)
        failures.append(failed[0] if failed else None)
    return predictions, failures


class Progress:
    def __init__(self, total_bytes: int):
        self.total_bytes = total_bytes
        self.bytes_done = 0
        self.predictions = 0
        self.errors = 0
        self.last = time.monotonic()

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_SECONDS:
            self.last = now
            print(
                f"{PROGRESS_MARK} rows={self.predictions + self.errors} predictions={self.predictions} "
                f"errors={self.errors} bytes={min(self.bytes_done, self.total_bytes)} of={self.total_bytes}",
                flush=True,
            )


class Shards:
    """The worker's results and errors, written to local files until they are committed."""

    def __init__(self, work: Path, output_format: str):
        self.results_file = work / "results"
        self.results = open(self.results_file, "wb")  # noqa: SIM115 - closed by finish()
        self.output_format = output_format
        self.errors: dict[str, list] = {}  # reason -> [count, first rows]

    def predictions(self, pairs: list[tuple[object, object]]) -> None:
        """(instance, prediction) pairs, one line each."""
        if self.output_format == "CSV":
            lines = io.StringIO()
            writer = csv.writer(lines, lineterminator="\n")
            writer.writerows([*_values(instance), *_values(value)] for instance, value in pairs)
            self.results.write(lines.getvalue().encode())
        else:
            self.results.write(
                b"".join(
                    orjson.dumps({"instance": i, "prediction": v}, option=JSON_OPTIONS, default=_plain)
                    for i, v in pairs
                )
            )

    def error(self, place: tuple, why: str) -> None:
        entry = self.errors.setdefault(why, [0, []])
        entry[0] += 1
        if len(entry[1]) < NAMED_ROWS:
            entry[1].append(where(place))

    def finish(self, work: Path) -> Path:
        self.results.close()
        stats = work / "errors_stats"
        with open(stats, "w") as out:
            for why, (count, places) in self.errors.items():
                named = ", ".join(places) + (", ..." if count > len(places) else "")
                out.write(repr((f"{why}: {named}", count)) + "\n")
        return stats


def _plain(value):
    """What orjson cannot write itself (numpy strings, Decimals, ...): a plain value."""
    return value.item() if hasattr(value, "item") else str(value)


def _values(value) -> list:
    value = value.tolist() if hasattr(value, "tolist") else value
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list | tuple) else [value]


def run(job: dict, index: int, work: Path) -> dict:
    """Predict the worker's splits and commit its shards; its counts (also the marker's)."""
    runs = job["splits"]
    results_uri, errors_uri, marker_uri = shard_names(job["output_path"], index, len(runs))
    if objects.exists(marker_uri):
        print(f"mlplatform batch: shard {index} of {len(runs)} is already committed", flush=True)
        return json.loads(objects.local_copy(marker_uri, work / "marker").read_text())
    model = load(job["model"], work)
    splits = runs[index]
    progress = Progress(sum(end - start for _, start, end in splits))
    shards = Shards(work, job["output_format"])
    keywords = model.keywords({"signature_name": job["signature_name"]} if job["signature_name"] else {})
    batch: list[tuple[tuple, object]] = []

    def flush() -> None:
        instances = [instance for _, instance in batch]
        predictions, failures = predict(model, instances, keywords)
        if failures is None:
            done = list(zip(instances, predictions, strict=True))
        else:
            done = []
            for (place, instance), prediction, failed in zip(batch, predictions, failures, strict=True):
                if failed is None:
                    done.append((instance, prediction))
                else:
                    shards.error(place, failed)
        shards.predictions(done)
        progress.predictions += len(done)
        progress.errors += len(batch) - len(done)
        batch.clear()
        progress.report()

    for place, instance in rows(job, splits, work, progress):
        if isinstance(instance, BadRow):
            shards.error(place, str(instance))
            progress.errors += 1
            continue
        batch.append((place, instance))
        if len(batch) >= job["batch_size"]:
            flush()
    if batch:
        flush()
    stats = shards.finish(work)
    objects.commit(shards.results_file, results_uri)
    objects.commit(stats, errors_uri)
    counts = {"predictionCount": progress.predictions, "errorCount": progress.errors}
    marker = work / "marker.json"
    marker.write_text(json.dumps(counts))
    objects.commit(marker, marker_uri)  # last: the shard counts as done only now
    progress.report(force=True)
    return counts


def load(spec: dict, work: Path) -> Model:
    install_packages(tuple(spec.get("package_uris") or ()), work)
    folder = model_folder(spec["uri"], work)
    return load_model(
        folder, framework=spec.get("framework", ""), prediction_class=spec.get("prediction_class", "")
    )


def main() -> None:
    try:
        job = json.loads(os.environ[PLAN_VARIABLE])
        index = int(os.environ["MLPLATFORM_REPLICA_INDEX"])
    except (KeyError, ValueError) as exc:
        print(
            f"mlplatform batch: run me as a worker of a batch prediction job ({reason(exc)})", file=sys.stderr
        )
        sys.exit(2)
    with tempfile.TemporaryDirectory(prefix="mlplatform-batch-") as work:
        try:
            run(job, index, Path(work))
        except ModelError as exc:
            print(f"Bad model detected with error: {exc}", file=sys.stderr, flush=True)
            sys.exit(BAD_MODEL_EXIT_CODE)
        except objects.StoreError as exc:
            print(f"mlplatform batch: {exc}", file=sys.stderr, flush=True)
            sys.exit(STORE_EXIT_CODE)


if __name__ == "__main__":
    main()
