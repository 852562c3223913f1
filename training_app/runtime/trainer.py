"""The runner every replica of an AI Platform package job starts with: fetch, install, export, exec.

    python trainer.py --package-uris gs://b/trainer-0.1.tar.gz[,gs://b/dep.whl] --module trainer.task \
        -- [the trainer's own arguments]

1. Fetches each package: `gs://b/k` and `s3://b/k` from the local bucket folder
   `$MLPLATFORM_LOCAL_BUCKETS/b` when there is one, else through google-cloud-storage or boto3
   with the variables the platform wires (GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST,
   AWS_*), imported only then.
2. Installs them, offline, into a virtualenv that sees this Python's packages
   (`--system-site-packages`, plus this interpreter's own site-packages where it is itself a
   virtualenv): `pip install --no-deps --no-index --no-build-isolation`. Wheels always install;
   an sdist needs a wheel builder in this Python (setuptools >= 70.1, or the `wheel` package). The
   virtualenv is keyed by the packages' contents and kept under $MLPLATFORM_VENV_CACHE when set
   (replicas and later jobs with the same packages share it), else under the current folder.
3. Exports what AI Platform sets (read from the platform's MLPLATFORM_* variables):
   TF_CONFIG `{"cluster": {master|chief, worker, ps}, "task": {"type", "index"}, "job": {...},
   "environment": "cloud"}` (evaluators are never in "cluster"); CLOUD_ML_JOB (the job's
   trainingInput with AI Platform's snake_case field names and int64 fields as strings, also
   TF_CONFIG's "job"); CLOUD_ML_JOB_ID; and PyTorch's MASTER_ADDR and MASTER_PORT (the master's or
   chief's address), WORLD_SIZE (master and workers) and RANK (master 0, worker i: i + 1; none on
   parameter servers and evaluators).
4. Replaces itself with `<venv>/bin/python -m <module> <args>`: the exit code is the trainer's.
   A tuning job's trial (MLPLATFORM_TRIAL_ID set) runs it as a child instead, with
   CLOUD_ML_HP_METRIC_FILE its own, and copies each metric it reports with cloudml-hypertune to
   this log as a line `mlplatform-hypertune {json}` (the job's study reads the master's log), and
   so too the metric's scalars in the TensorFlow summary events under its --job-dir (SummaryScalars),
   until it exits with the trainer's code; SIGTERM (a cancel, an early stop) is passed on to it.

Its own failures end with one line on stderr, `mlplatform trainer: ...`, and exit code 2 (bad
usage), 66 (a package cannot be fetched) or 70 (the virtualenv or pip failed).

Standard library only, Python 3.7 and later, and one file: the Kubernetes backend runs it inside
the job's runtime image, which must carry it as /opt/mlplatform/trainer.py. That is why TF_CONFIG's
one builder (`tf_config`) lives here, and the console (specs, the job's page) imports it from here.
The predictor server (prediction_app/serving) fetches its model folder and its routine's packages and
installs them with the same functions (`fetch_folder`, `fetch`, `pip_install`).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import site
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

EXIT_USAGE = 2
EXIT_NO_PACKAGE = 66
EXIT_INSTALL = 70
URI = re.compile(r"(gs|s3)://([^/]+)/(.+)")
FOLDER_URI = re.compile(r"(gs|s3)://([^/]+)(?:/(.*))?")
READY = "mlplatform-ready"  # written last: a virtualenv without it is half-built
PIP_OUTPUT_LINES = 20
GCS_RETRY_SECONDS = 20
# TrainingInput's int64 fields, strings in AI Platform's JSON (proto3's mapping of int64).
INT64_FIELDS = {"workerCount", "parameterServerCount", "evaluatorCount", "count"}
REPLICA_VARIABLES = ("MLPLATFORM_CLUSTER", "MLPLATFORM_REPLICA_ROLE", "MLPLATFORM_REPLICA_INDEX")
CLUSTER_ROLES = ("master", "chief", "worker", "ps")  # TF_CONFIG's "cluster": evaluators are not in it
HYPERTUNE_FILE = "/tmp/hypertune/output.metrics"  # cloudml-hypertune's, unless CLOUD_ML_HP_METRIC_FILE
METRIC_LINE = "mlplatform-hypertune "  # a trial's log line: what follows is one line of that file
METRIC_POLL_SECONDS = 0.5
SUMMARY_POLL_SECONDS = 5.0  # summary files (a bucket's listing and downloads) are read this often
SUMMARY_FILE = "events.out.tfevents."  # TensorFlow's (and TensorBoard's) summary event files
NEVER_REPORTED = (
    "The trainer never reported the metric '{tag}' (hyperparameterMetricTag): report it with "
    "cloudml-hypertune's report_hyperparameter_tuning_metric."
)


class RunnerError(Exception):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def main(argv: list[str] | None = None) -> None:
    try:
        uris, module, trainer_args = parse_args(sys.argv[1:] if argv is None else argv)
        env = dict(os.environ)
        exported = distributed_env(env)  # before the slow part: a bad environment fails at once
        packages = [fetch(uri, _work_dir() / "packages" / str(i)) for i, uri in enumerate(uris)]
        python = ensure_venv(packages)
    except OSError as exc:  # a folder or file it cannot write
        _exit(RunnerError(str(exc), EXIT_INSTALL))
    except RunnerError as exc:
        _exit(exc)
    venv = python.parent.parent
    env.update(exported)
    env.update(VIRTUAL_ENV=str(venv), PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)]))
    sys.stdout.flush()
    command = [str(python), "-m", module, *trainer_args]
    if exported.get("CLOUD_ML_TRIAL_ID"):
        sys.exit(run_trial(command, env))
    os.execve(str(python), command, env)


def run_trial(command: list[str], env: dict[str, str]) -> int:
    """Run a trial's trainer as a child, copying what it reports to its metric file to stdout as
    METRIC_LINE lines while it runs; its exit code (128 + the signal that ended it)."""
    if not env.get("CLOUD_ML_HP_METRIC_FILE"):  # the default is one path for every trial of a machine
        folder = tempfile.mkdtemp(prefix="hypertune-", dir=str(_work_dir()))
        env["CLOUD_ML_HP_METRIC_FILE"] = os.path.join(folder, "output.metrics")
    metric_file = Path(env["CLOUD_ML_HP_METRIC_FILE"])
    summaries = SummaryScalars(_job_dir(command), _metric_tag(env), metric_file.parent / "summaries")
    child = subprocess.Popen(command, env=env)
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
    seen: set = set()
    done = threading.Event()

    def relay() -> None:
        last_summaries = time.monotonic()
        while not done.wait(METRIC_POLL_SECONDS):
            relay_metrics(metric_file, seen)
            if time.monotonic() - last_summaries >= SUMMARY_POLL_SECONDS:
                relay_lines(summaries.lines(), seen)
                last_summaries = time.monotonic()

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    code = child.wait()
    done.set()
    thread.join()
    relay_metrics(metric_file, seen)
    relay_lines(summaries.lines(), seen)
    return 128 - code if code < 0 else code


def relay_metrics(metric_file: Path, seen: set) -> None:
    """Print each line of cloudml-hypertune's file not printed yet. It rewrites the file with its
    last 100 metrics on every report, each with its own timestamp, so a line is a metric."""
    try:
        lines = metric_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return
    relay_lines(lines, seen)


def relay_lines(lines: list[str], seen: set) -> None:
    for line in lines:
        if line.strip() and line not in seen:
            seen.add(line)
            print(METRIC_LINE + line, flush=True)


class SummaryScalars:
    """The metric's scalars in the TensorFlow summary events that a trial writes under its job
    directory (tf.summary.scalar, Keras' TensorBoard callback, an Estimator's eval summaries), which
    AI Platform reads for TensorFlow trainers: each as a cloudml-hypertune line, so that the log
    carries both kinds alike. The files are TFRecords of Event protos, read with the tfrecord and
    tensorboardX packages when this Python has them (the console's does; a runtime image without
    them says so once, and its trials report with cloudml-hypertune only). In a bucket, only the
    event files are downloaded, each time they are read."""

    def __init__(self, job_dir: str, tag: str, folder: Path):
        self.job_dir, self.tag, self.folder = job_dir, tag, folder
        self.warned = False

    def lines(self) -> list[str]:
        if not self.job_dir:
            return []
        try:
            from tensorboardX.proto import event_pb2
            from tfrecord.reader import tfrecord_iterator
        except ImportError as exc:
            if not self.warned:
                self.warned = True
                print(f"mlplatform trainer: TensorFlow summaries are not read: no {exc.name}", flush=True)
            return []
        lines = []
        for path in self._files():
            try:
                for record in tfrecord_iterator(str(path)):
                    event = event_pb2.Event.FromString(bytes(record))
                    lines += [
                        self._line(event, value) for value in event.summary.value if value.tag == self.tag
                    ]
            except Exception:  # a file being written ends in a partial record: read again next time
                continue
        return [line for line in lines if line]

    def _line(self, event, value) -> str:
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            number = value.simple_value
        elif kind == "tensor" and value.tensor.float_val:  # TF 2's tf.summary.scalar
            number = value.tensor.float_val[0]
        elif kind == "tensor" and value.tensor.double_val:
            number = value.tensor.double_val[0]
        elif kind == "tensor" and value.tensor.tensor_content and value.tensor.dtype in (1, 2):
            number = struct.unpack("<f" if value.tensor.dtype == 1 else "<d", value.tensor.tensor_content)[0]
        else:
            return ""
        entry = {"global_step": str(event.step), self.tag: str(number), "timestamp": event.wall_time}
        return json.dumps({**entry, "source": "summary"}, sort_keys=True)

    def _files(self) -> list[Path]:
        """The event files under the job directory: in place for a folder or a local bucket."""
        match = FOLDER_URI.fullmatch(self.job_dir.rstrip("/"))
        if not match:
            return sorted(Path(self.job_dir).rglob(SUMMARY_FILE + "*"))
        scheme, bucket, prefix = match.group(1), match.group(2), (match.group(3) or "")
        buckets = os.environ.get("MLPLATFORM_LOCAL_BUCKETS")
        if buckets and (Path(buckets) / bucket).is_dir():
            return sorted((Path(buckets) / bucket).joinpath(*prefix.split("/")).rglob(SUMMARY_FILE + "*"))
        try:
            keys = (_list_gcs if scheme == "gs" else _list_s3)(bucket, prefix + "/" if prefix else "")
            download = _download_gcs if scheme == "gs" else _download_s3
            files = []
            for i, key in enumerate(k for k in keys if k.rsplit("/", 1)[-1].startswith(SUMMARY_FILE)):
                target = self.folder / f"{i}-{key.rsplit('/', 1)[-1]}"
                target.parent.mkdir(parents=True, exist_ok=True)
                download(bucket, key, target)
                files.append(target)
            return files
        except Exception as exc:  # the store's own errors; the next read tries again
            print(
                f"mlplatform trainer: cannot read summaries under {self.job_dir}: {one_line(exc)}", flush=True
            )
            return []


def _job_dir(command: list[str]) -> str:
    """The trainer's --job-dir (the platform passes it as `--job-dir DIR`), or ""."""
    for i, arg in enumerate(command):
        if arg == "--job-dir" and i + 1 < len(command):
            return command[i + 1]
        if arg.startswith("--job-dir="):
            return arg.partition("=")[2]
    return ""


def _metric_tag(env: dict[str, str]) -> str:
    """The tuning job's hyperparameterMetricTag (cloudml-hypertune's default when unset)."""
    job = json.loads(env.get("MLPLATFORM_TRAINING_JOB") or "{}")
    spec = job.get("training_input", {}).get("hyperparameters") or {}
    return spec.get("hyperparameterMetricTag") or "training/hptuning/metric"


def _exit(error: RunnerError) -> None:
    print(f"mlplatform trainer: {error}", file=sys.stderr, flush=True)
    sys.exit(error.exit_code)


def parse_args(argv: list[str]) -> tuple[list[str], str, list[str]]:
    """(package URIs, module, the trainer's arguments: everything after the first `--`)."""
    own, trainer_args = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    parser = argparse.ArgumentParser(
        prog="trainer.py", description="Run an AI Platform package job's replica."
    )
    parser.add_argument("--package-uris", required=True, help="comma-separated gs:// or s3:// URIs")
    parser.add_argument("--module", required=True, help="the Python module to run, e.g. trainer.task")
    args = parser.parse_args(own)
    uris = [uri for uri in args.package_uris.split(",") if uri]
    if not uris:
        parser.error("--package-uris names no package")
    return uris, args.module, trainer_args


# --- the environment AI Platform gives a trainer --------------------------------------------


def distributed_env(environ: dict[str, str]) -> dict[str, str]:
    """TF_CONFIG, CLOUD_ML_JOB(_ID) and the PyTorch variables, from the platform's variables."""
    missing = [name for name in REPLICA_VARIABLES if not environ.get(name)]
    if missing:
        raise RunnerError(
            f"{', '.join(missing)} not set: run me as a replica of a training workload", EXIT_USAGE
        )
    try:
        cluster = json.loads(environ["MLPLATFORM_CLUSTER"])
        role = environ["MLPLATFORM_REPLICA_ROLE"]
        index = int(environ["MLPLATFORM_REPLICA_INDEX"])
        job = json.loads(environ.get("MLPLATFORM_TRAINING_JOB") or "{}")
    except ValueError as exc:
        raise RunnerError(f"a platform variable is malformed: {exc}", EXIT_USAGE) from None
    leader = "chief" if environ.get("MLPLATFORM_USE_CHIEF") == "true" else "master"
    trial = environ.get("MLPLATFORM_TRIAL_ID", "")
    config = tf_config(cluster, role, index, job.get("training_input") or {}, trial=trial)
    exported = {
        "TF_CONFIG": json.dumps(config),
        "CLOUD_ML_JOB": json.dumps(config["job"]),
        "CLOUD_ML_JOB_ID": str(job.get("job_id", "")),
    }
    if trial:  # a tuning job's trial: cloudml-hypertune reads its id from here
        exported["CLOUD_ML_TRIAL_ID"] = trial
    if cluster.get(leader):
        host, _, port = cluster[leader][0].rpartition(":")
        workers = len(cluster.get("worker", []))
        exported.update(MASTER_ADDR=host, MASTER_PORT=port, WORLD_SIZE=str(1 + workers))
        rank = {leader: 0, "worker": index + 1}.get(role)
        if rank is not None:
            exported["RANK"] = str(rank)
    return exported


def tf_config(cluster, task_type: str, index, training_input: dict, trial: str = "") -> dict:
    """TF_CONFIG as AI Platform sets it on a replica; the runner, the job's spec (custom containers)
    and the job's page all build it here. `cluster` maps each replica group's role to its
    addresses; evaluators are left out of it, as AI Platform does. A `cluster` that is not a mapping
    (the spec's placeholder for what the backend fills in) is kept as given. A tuning job's trial
    has its id in task.trial."""
    if isinstance(cluster, dict):
        cluster = {role: cluster[role] for role in CLUSTER_ROLES if role in cluster}
    task = {"type": task_type, "index": index, **({"trial": trial} if trial else {})}
    return {
        "cluster": cluster,
        "task": task,
        "job": job_for_tf_config(training_input),
        "environment": "cloud",
    }


def job_for_tf_config(training_input: dict) -> dict:
    """trainingInput as AI Platform writes it into TF_CONFIG and CLOUD_ML_JOB: proto field names
    (snake_case) and int64 fields as strings."""
    return _snake_case(training_input)


def _snake_case(value, name: str = ""):
    if isinstance(value, dict):
        return {
            re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): _snake_case(item, key)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_snake_case(item) for item in value]
    if name in INT64_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


# --- packages -------------------------------------------------------------------------------


def fetch(uri: str, folder: Path) -> Path:
    """A local path to the package: its file in a local bucket, else a download into `folder`."""
    match = URI.fullmatch(uri)
    if not match or any(part in ("", ".", "..") for part in match.group(3).split("/")):
        raise RunnerError(f"'{uri}' is not a package URI such as gs://bucket/trainer-0.1.tar.gz", EXIT_USAGE)
    scheme, bucket, key = match.groups()
    buckets = os.environ.get("MLPLATFORM_LOCAL_BUCKETS")
    if buckets and (Path(buckets) / bucket).is_dir():
        return _local_object(uri, Path(buckets) / bucket, key)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / key.rsplit("/", 1)[-1]
    with _store_errors(uri):
        (_download_gcs if scheme == "gs" else _download_s3)(bucket, key, target)
    return target


def fetch_folder(uri: str, folder: Path) -> Path:
    """A local folder with every object under `uri` (gs://bucket/prefix or s3://bucket/prefix): the
    folder itself in a local bucket, else a download into `folder` (the predictor's model files)."""
    match = FOLDER_URI.fullmatch(uri.rstrip("/"))
    prefix = (match.group(3) or "") if match else ""
    if not match or (prefix and any(part in ("", ".", "..") for part in prefix.split("/"))):
        raise RunnerError(f"'{uri}' is not a folder URI such as gs://bucket/models/v1", EXIT_USAGE)
    scheme, bucket = match.group(1), match.group(2)
    buckets = os.environ.get("MLPLATFORM_LOCAL_BUCKETS")
    if buckets and (Path(buckets) / bucket).is_dir():
        bucket_dir = Path(buckets) / bucket
        path = bucket_dir.joinpath(*prefix.split("/")) if prefix else bucket_dir
        real, root = os.path.realpath(path), os.path.realpath(bucket_dir)
        if not (real == root or real.startswith(root + os.sep)) or not path.is_dir():
            raise RunnerError(f"folder {uri} was not found", EXIT_NO_PACKAGE)
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with _store_errors(uri):
        keys = (_list_gcs if scheme == "gs" else _list_s3)(bucket, prefix + "/" if prefix else "")
        download = _download_gcs if scheme == "gs" else _download_s3
        for key in keys:
            relative = key[len(prefix) :].strip("/") if prefix else key
            if not relative or key.endswith("/") or ".." in relative.split("/"):
                continue  # folder markers that consoles write, and names that would leave `folder`
            target = folder.joinpath(*relative.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            download(bucket, key, target)
    return folder


@contextlib.contextmanager
def _store_errors(uri: str):
    try:
        yield
    except ImportError as exc:
        raise RunnerError(f"cannot fetch {uri}: this Python lacks {exc.name}", EXIT_NO_PACKAGE) from None
    except Exception as exc:  # the store's own error types: imported lazily, so not nameable here
        raise RunnerError(f"cannot fetch {uri}: {one_line(exc)}", EXIT_NO_PACKAGE) from None


def _local_object(uri: str, bucket_dir: Path, key: str) -> Path:
    path = bucket_dir.joinpath(*key.split("/"))
    inside = os.path.realpath(path).startswith(os.path.realpath(bucket_dir) + os.sep)
    if not inside or not path.is_file():
        raise RunnerError(f"package {uri} was not found", EXIT_NO_PACKAGE)
    return path


def gcs_bucket(bucket: str):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key_file:
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(key_file)
    else:
        credentials = AnonymousCredentials()  # emulators and public buckets
    endpoint = os.environ.get("STORAGE_EMULATOR_HOST")
    client = storage.Client(
        project=None, credentials=credentials, client_options={"api_endpoint": endpoint} if endpoint else None
    )
    return client.bucket(bucket)


def gcs_retry():
    from google.cloud.storage.retry import DEFAULT_RETRY

    # The library's default retries for two minutes; a missing network should fail sooner.
    return DEFAULT_RETRY.with_deadline(GCS_RETRY_SECONDS)


def _download_gcs(bucket: str, key: str, target: Path) -> None:
    gcs_bucket(bucket).blob(key).download_to_filename(str(target), retry=gcs_retry())


def _list_gcs(bucket: str, prefix: str) -> list[str]:
    return [blob.name for blob in gcs_bucket(bucket).list_blobs(prefix=prefix, retry=gcs_retry())]


def s3_client():
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        # Stores other than AWS (MinIO, Ceph) are reached path-style, as the platform's own driver does.
        config=Config(s3={"addressing_style": "path"}) if endpoint else None,
    )


def _download_s3(bucket: str, key: str, target: Path) -> None:
    s3_client().download_file(bucket, key, str(target))


def _list_s3(bucket: str, prefix: str) -> list[str]:
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


# --- the virtualenv -------------------------------------------------------------------------


def ensure_venv(packages: list[Path]) -> Path:
    """The python of a virtualenv with `packages` installed, built once per set of packages."""
    key = _venv_key(packages)
    cache = os.environ.get("MLPLATFORM_VENV_CACHE")
    base = Path(cache) if cache else _work_dir() / "venvs"
    base.mkdir(parents=True, exist_ok=True)
    venv = base / key
    python = venv / "bin" / "python"
    with _locked(base / f"{key}.lock"):
        if (venv / READY).exists():
            return python
        shutil.rmtree(str(venv), ignore_errors=True)  # a build that died half-way
        _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], "venv")
        version = "python{}.{}".format(*sys.version_info[:2])
        # --system-site-packages reaches only the base interpreter's packages: where this Python is
        # itself a virtualenv (the console's), its packages (pip among them) come through a .pth.
        pth = venv / "lib" / version / "site-packages" / "mlplatform-parent.pth"
        pth.write_text("".join(path + "\n" for path in site.getsitepackages()))
        pip_install(python, packages, "--ignore-installed")
        (venv / READY).write_text("")
    return python


def pip_install(python: Path | str, packages: list[Path], *options: str) -> None:
    """Installs the package files with `python -m pip`, offline and without their dependencies,
    with the machine's pip configuration left out; raises RunnerError (EXIT_INSTALL) on failure."""
    install = [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation"]
    install += ["--no-cache-dir", "--disable-pip-version-check", "--no-input", *options]
    _run(install + [str(package) for package in packages], "pip install", pip=True)


def _venv_key(packages: list[Path]) -> str:
    """Same interpreter and same package files (names and bytes): same virtualenv."""
    digest = hashlib.sha256(f"{os.path.realpath(sys.executable)} {sys.version}".encode())
    for package in packages:
        digest.update(package.name.encode() + b"\0")
        with open(str(package), "rb") as data:
            chunk = data.read(1 << 20)
            while chunk:
                digest.update(chunk)
                chunk = data.read(1 << 20)
    return digest.hexdigest()[:24]


def _run(command: list[str], what: str, pip: bool = False) -> None:
    env = dict(os.environ)
    if pip:  # the machine's pip configuration (indexes, constraints) must not change what installs
        env = {name: value for name, value in env.items() if not name.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        lines = done.stdout.decode(errors="replace").strip().splitlines()
        sys.stderr.write("".join(line + "\n" for line in lines[-PIP_OUTPUT_LINES:]))
        raise RunnerError(f"{what} failed: {_reason(lines, done.returncode)}", EXIT_INSTALL)


def _reason(lines: list[str], returncode: int) -> str:
    errors = [line.strip() for line in lines if line.strip().lower().startswith("error")]
    if any("bdist_wheel" in line for line in errors):
        return (
            "an sdist needs a wheel builder (setuptools >= 70.1 or the 'wheel' package) in this Python; "
            "add one to the runtime, or upload a wheel"
        )
    return errors[-1] if errors else (lines[-1].strip() if lines else f"exit code {returncode}")


@contextlib.contextmanager
def _locked(path: Path):
    with open(str(path), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _work_dir() -> Path:
    """`.mlplatform-trainer` in the current folder, or in the temp folder where that is read-only."""
    for parent in (Path.cwd(), Path(tempfile.gettempdir())):
        folder = parent / ".mlplatform-trainer"
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            continue
        if os.access(str(folder), os.W_OK):
            return folder
    raise RunnerError(
        "no writable folder for packages: neither the current one nor the temp folder", EXIT_INSTALL
    )


def hypertune_metrics(text: str, tag: str) -> list:
    """The `tag` metrics of a trial's cloudml-hypertune file, in the order reported, as
    trainingOutput's HyperparameterMetric: {"trainingStep": "100", "objectiveValue": 0.98}. Its
    lines are JSON objects such as {"global_step": "100", "<tag>": "0.98", "timestamp": 1.5,
    "trial": "1"}; a line without the tag (the trainer may report others) or not JSON is skipped."""
    metrics = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            value = float(entry[tag])
            step = int(entry.get("global_step") or 0)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if value == value and abs(value) != float("inf"):  # NaN and infinities rank nothing
            metrics.append({"trainingStep": str(step), "objectiveValue": value})
    return metrics


def one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    main()
