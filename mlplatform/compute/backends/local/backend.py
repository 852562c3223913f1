"""The local backend: every replica is a supervised child process on this machine (`make run`).

Layout under `root` (settings.DATA_DIR / "local"):

    runs/{project}/{ref.key}/
        workload.json               ref, spec (no secret values), each replica's loopback port
        cancelled                   written by cancel: the folder stays for its logs
        private/                    0700: {role}-{index}.env.json (0600) and files/ (wiring.files)
        {role}-{index}/             replica.json, launcher.pid, pid, status.json, output.log,
                                    launcher.log, result.json (see launcher.py), volumes/ (scratch)
    volumes/{project}/{spec name}/{volume name}/   persistent volumes, kept across workloads
    gpus.json, gpus.lock            who holds which GPU (gpus.py)

Status is read from these files alone, so it survives a worker restart: launchers are detached.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.conf import settings

from mlplatform.compute.backends.base import (
    BackendError,
    Endpoint,
    FlavorInfo,
    Phase,
    ReplicaStatus,
    Stage,
    Wiring,
    WorkloadRef,
    WorkloadStatus,
)
from mlplatform.compute.backends.local import launcher
from mlplatform.compute.backends.local.gpus import GpuLedger, detect_gpus
from mlplatform.compute.backends.local.launcher import (
    ATTEMPT_MARK,
    LAUNCHER_LOG_FILE,
    LAUNCHER_PID_FILE,
    OUTPUT_FILE,
    PID_FILE,
    REPLICA_FILE,
    RESULT_FILE,
    STATUS_FILE,
    kill_group,
    now,
    read_json,
    write_json,
    write_text,
)
from mlplatform.compute.envexpand import expand, expand_all
from mlplatform.compute.spec import ReplicaGroup, Volume, WorkloadKind, WorkloadSpec, spec_to_dict

WORKLOAD_FILE = "workload.json"
CANCELLED_FILE = "cancelled"
PRIVATE_DIR = "private"
LOOPBACK = "127.0.0.1"
POLL_SECONDS = 0.05
FAILURE_LOG_LINES = 5
BASIC_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL")
SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class LocalBackend:
    """Implements base.Backend with processes under `root`; `gpus` are the indexes it may hand out."""

    name = "local"

    def __init__(
        self,
        root: Path,
        gpus: Sequence[str | int] = (),
        *,
        grace_seconds: float = 10.0,
        restart_delay_seconds: float = 1.0,
    ):
        self.root = Path(root)
        self.ledger = GpuLedger(self.root / "gpus.json", [str(gpu) for gpu in gpus])
        self.grace_seconds = grace_seconds
        self.restart_delay_seconds = restart_delay_seconds

    @classmethod
    def from_settings(cls) -> LocalBackend:
        """Runs under settings.DATA_DIR/local; GPUs from settings.LOCAL_GPUS (a count or a list),
        else from nvidia-smi."""
        return cls(Path(settings.DATA_DIR) / "local", detect_gpus(getattr(settings, "LOCAL_GPUS", None)))

    def integrations(self) -> dict[str, bool]:
        return {}  # processes on this machine: no cluster, nothing to integrate with

    def run_dir(self, ref: WorkloadRef) -> Path:
        return self.root / "runs" / _segment(ref.project) / _segment(ref.key)

    # --- submit -------------------------------------------------------------------------------

    def submit(
        self, ref: WorkloadRef, spec: WorkloadSpec, flavors: Mapping[str, FlavorInfo], wiring: Wiring
    ) -> None:
        """Start a launcher for each replica that has none yet. Raises a permanent BackendError for a
        spec this backend cannot run, a temporary one when too few GPUs are free."""
        for group in spec.groups:
            _check_runnable(group)
        run_dir = self.run_dir(ref)
        with _locked(run_dir.parent):
            if (run_dir / CANCELLED_FILE).exists():
                return
            workload = read_json(run_dir / WORKLOAD_FILE) or self._create(ref, spec, run_dir)
            replicas = [
                (group, replica)
                for group in spec.groups
                for replica in workload["replicas"]
                if replica["role"] == group.role
                and not (run_dir / _replica_name(replica) / LAUNCHER_PID_FILE).exists()
            ]
            if not replicas:
                return
            gpus = self.ledger.allocate(
                {_owner(ref, replica): group.resources.gpus for group, replica in replicas}, self._holds_gpus
            )
            files_dir = self._write_files(run_dir, wiring)
            cluster = _cluster(workload)
            for group, replica in replicas:
                replica_dir = run_dir / _replica_name(replica)
                volumes = {
                    volume: self._volume_dir(ref, spec, volume, replica_dir) for volume in group.volumes
                }
                env = _replica_env(
                    ref,
                    group,
                    replica,
                    volumes=volumes,
                    wiring=wiring,
                    files_dir=files_dir,
                    cluster=cluster,
                    gpus=gpus[_owner(ref, replica)],
                )
                cwd = next((path for volume, path in volumes.items() if volume.persistent), replica_dir)
                self._start(spec, group, replica_dir, env, cwd)

    def _create(self, ref: WorkloadRef, spec: WorkloadSpec, run_dir: Path) -> dict:
        ports = _free_ports(spec.replicas)
        replicas = [
            {"role": group.role, "index": index, "port": ports.pop()}
            for group in spec.groups
            for index in range(group.count)
        ]
        workload = {
            "id": ref.id,
            "project": ref.project,
            "name": ref.name,
            "key": ref.key,
            "created_at": now(),
            "spec": spec_to_dict(spec),
            "replicas": replicas,
        }
        for replica in replicas:
            (run_dir / _replica_name(replica)).mkdir(parents=True, exist_ok=True)
        write_json(run_dir / WORKLOAD_FILE, workload)
        return workload

    def _write_files(self, run_dir: Path, wiring: Wiring) -> Path:
        files_dir = run_dir / PRIVATE_DIR / "files"
        _private_dir(run_dir / PRIVATE_DIR)
        _private_dir(files_dir)
        for file_name, content in wiring.files.items():
            write_text(files_dir / _segment(file_name), content, mode=0o600)
        return files_dir

    def _volume_dir(self, ref: WorkloadRef, spec: WorkloadSpec, volume: Volume, replica_dir: Path) -> Path:
        if volume.persistent:
            path = self._volumes_of(ref.project, spec.name) / _segment(volume.name)
        else:
            path = replica_dir / "volumes" / _segment(volume.name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _volumes_of(self, project: str, name: str) -> Path:
        return self.root / "volumes" / _segment(project) / _segment(name)

    def _start(
        self, spec: WorkloadSpec, group: ReplicaGroup, replica_dir: Path, env: dict[str, str], cwd: Path
    ) -> None:
        env_file = replica_dir.parent / PRIVATE_DIR / f"{replica_dir.name}.env.json"
        write_json(env_file, env, mode=0o600)
        readiness = None
        if group.readiness_path:
            readiness = f"http://{LOOPBACK}:{env['MLPLATFORM_PORT']}/{group.readiness_path.lstrip('/')}"
        policy = spec.failure_policy
        config = {
            "argv": [expand(arg, env) for arg in _argv(group)],
            "env_file": str(env_file),
            "cwd": str(cwd),
            # Like the Kubernetes shapes: Jobs never restart a pod in place, Deployments and
            # StatefulSets always do.
            "restart": "never" if spec.kind == WorkloadKind.BATCH else "always",
            "backoff_limit": policy.backoff_limit,
            "rules": [
                {"action": rule.action.value, "exit_codes": list(rule.exit_codes)} for rule in policy.rules
            ],
            "max_run_seconds": policy.max_run_seconds,
            "grace_seconds": self.grace_seconds,
            "restart_delay_seconds": self.restart_delay_seconds,
            "readiness_url": readiness,
        }
        write_json(replica_dir / REPLICA_FILE, config)
        with open(replica_dir / LAUNCHER_LOG_FILE, "ab") as log:
            try:
                # Returns once the launcher has forked into the background and written launcher.pid.
                subprocess.run(
                    [sys.executable, "-I", launcher.__file__, str(replica_dir)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=_basic_env(),
                    check=True,
                    timeout=60,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                raise BackendError(
                    f"cannot start the launcher of {replica_dir.name} ({exc}); see {log.name}", temporary=True
                ) from exc

    def _holds_gpus(self, owner: str) -> bool:
        """An allocation is free once its replica ended, its launcher died, or its folder went."""
        replica_dir = self.root / "runs" / owner
        if not replica_dir.is_dir() or (replica_dir / RESULT_FILE).exists():
            return False
        pid = _read_pid(replica_dir / LAUNCHER_PID_FILE)
        return pid is None or _launcher_alive(pid, replica_dir)

    # --- status -------------------------------------------------------------------------------

    def statuses(self, refs: Iterable[WorkloadRef]) -> dict[str, WorkloadStatus]:
        """From the run folders alone: no process is started, nothing waits."""
        return {ref.id: self._status(self.run_dir(ref)) for ref in refs}

    def _status(self, run_dir: Path) -> WorkloadStatus:
        workload = read_json(run_dir / WORKLOAD_FILE)
        if workload is None:
            return WorkloadStatus(phase=Phase.MISSING)
        replicas, started, finished = [], [], []
        for replica in workload["replicas"]:
            status, started_at, finished_at = _replica_status(run_dir / _replica_name(replica), replica)
            replicas.append(status)
            started += [started_at] if started_at else []
            finished += [finished_at] if finished_at else []
        phases = {replica.phase for replica in replicas}
        failed = [replica for replica in replicas if replica.phase == Phase.FAILED]
        message = ""
        if (run_dir / CANCELLED_FILE).exists():
            phase, message = Phase.MISSING, "cancelled"
        elif failed:
            phase, message = Phase.FAILED, _failure_message(run_dir, failed[0])
        elif phases == {Phase.SUCCEEDED}:
            phase = Phase.SUCCEEDED
        elif phases <= {Phase.RUNNING, Phase.SUCCEEDED}:
            phase = Phase.RUNNING
        else:
            phase = Phase.PENDING
        ended = phase in (Phase.SUCCEEDED, Phase.FAILED)
        return WorkloadStatus(
            phase=phase,
            replicas=tuple(replicas),
            message=message,
            started_at=min(started, default=None),
            finished_at=max(finished, default=None) if ended else None,
        )

    # --- cancel and clean up ------------------------------------------------------------------

    def cancel(self, ref: WorkloadRef) -> None:
        """Stop every replica (SIGTERM, SIGKILL after the grace period) and mark the run cancelled;
        the folder stays for its logs. A run that is gone or already cancelled is done."""
        self._stop([self.run_dir(ref)])

    def _stop(self, run_dirs: list[Path]) -> None:
        live: list[Path] = []
        for run_dir in run_dirs:
            if not (run_dir / WORKLOAD_FILE).exists():
                continue
            with _locked(run_dir.parent):  # no submit is half way through this run
                if not (run_dir / CANCELLED_FILE).exists():
                    write_text(run_dir / CANCELLED_FILE, now())
            live += [d for d in _replica_dirs(run_dir) if not (d / RESULT_FILE).exists()]
        for replica_dir in live:
            _signal_replica(replica_dir, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds + 1  # the launchers escalate at grace
        while time.monotonic() < deadline and any(_replica_alive(d) for d in live):
            time.sleep(POLL_SECONDS)
        for replica_dir in live:
            if not (replica_dir / RESULT_FILE).exists():  # else its launcher ended it, and pids get reused
                _signal_replica(replica_dir, signal.SIGKILL)
                write_json(replica_dir / RESULT_FILE, _cancelled_result(replica_dir))

    def delete_volumes(self, project: str, name: str) -> None:
        shutil.rmtree(self._volumes_of(project, name), ignore_errors=True)

    def collect_garbage(self, keep: set[str]) -> list[str]:
        """Cancel and remove the runs of workloads not in `keep`; returns their "project/key"."""
        doomed = []
        for run_dir in sorted((self.root / "runs").glob("*/*")):
            workload = read_json(run_dir / WORKLOAD_FILE) if run_dir.is_dir() else None
            if workload is not None and workload["id"] not in keep:
                doomed.append(run_dir)
        self._stop(doomed)
        for run_dir in doomed:
            shutil.rmtree(run_dir, ignore_errors=True)
        return [f"{run_dir.parent.name}/{run_dir.name}" for run_dir in doomed]

    # --- logs and endpoints -------------------------------------------------------------------

    def logs(
        self, ref: WorkloadRef, role: str, index: int, *, tail: int | None = None, follow: bool = False
    ) -> Iterator[str]:
        """Lines of the replica's output.log (with a line marking each attempt); with `follow`,
        new lines as they come until the replica ends. Nothing for a replica never started."""
        replica_dir = self.run_dir(ref) / f"{_segment(role)}-{int(index)}"
        path = replica_dir / OUTPUT_FILE
        lines, offset = _tail(path, tail, partial_last=not follow)
        yield from lines
        partial = b""
        while follow:
            ended = _replica_ended(replica_dir)  # before reading, so the last read gets all
            chunk = _read_from(path, offset)
            offset += len(chunk)
            *complete, partial = (partial + chunk).split(b"\n")
            yield from (_decode(line) for line in complete)
            if ended:
                break
            time.sleep(POLL_SECONDS)
        if partial:
            yield _decode(partial)

    def endpoint(self, ref: WorkloadRef, role: str, port: int) -> Endpoint | None:
        """The loopback address of the group's first replica, for the group's first declared port."""
        workload = read_json(self.run_dir(ref) / WORKLOAD_FILE)
        if workload is None or (self.run_dir(ref) / CANCELLED_FILE).exists():
            return None
        groups = [group for group in workload["spec"]["groups"] if group["role"] == role]
        if not groups or groups[0]["ports"][:1] != [port]:
            return None
        first = next(replica for replica in workload["replicas"] if replica["role"] == role)
        return Endpoint(f"http://{LOOPBACK}:{first['port']}")


# --- helpers --------------------------------------------------------------------------------


def _segment(name: str) -> str:
    """A name that is safe as one path segment; anything else is a caller's bug."""
    if not SAFE_SEGMENT.match(name):
        raise BackendError(f"'{name}' cannot name a folder", temporary=False)
    return name


def _argv(group: ReplicaGroup) -> tuple[str, ...]:
    """The group's local alternative when it has one, else its own command (which must run here)."""
    run = group.local
    return (*run.command, *run.args) if run is not None else (*group.command, *group.args)


def _check_runnable(group: ReplicaGroup) -> None:
    if not _argv(group):
        raise BackendError(
            f"replica group '{group.role}' has no command: the local backend runs processes on this "
            "machine and ignores the image, so it needs one",
            temporary=False,
        )
    if group.secret_env:
        names = ", ".join(f"{ref.secret}/{ref.key}" for ref in group.secret_env)
        raise BackendError(f"the local backend cannot read Kubernetes Secrets ({names})", temporary=False)


def _replica_name(replica: dict) -> str:
    return f"{replica['role']}-{replica['index']}"


def _owner(ref: WorkloadRef, replica: dict) -> str:
    return f"{ref.project}/{ref.key}/{_replica_name(replica)}"


def _replica_dirs(run_dir: Path) -> list[Path]:
    workload = read_json(run_dir / WORKLOAD_FILE) or {"replicas": []}
    return [run_dir / _replica_name(replica) for replica in workload["replicas"]]


def _replica_env(
    ref: WorkloadRef,
    group: ReplicaGroup,
    replica: dict,
    *,
    volumes: Mapping[Volume, Path],
    wiring: Wiring,
    files_dir: Path,
    cluster: str,
    gpus: list[str],
) -> dict[str, str]:
    """In the order of the Kubernetes manifests, so `$(NAME)` means the same on both backends:
    injected variables, volumes, wiring.env and the group's env (expanded, the group's value
    winning), secret values last and literal (a secretKeyRef is never expanded)."""
    env = _basic_env()
    env |= {
        "MLPLATFORM_WORKLOAD": ref.id,
        "MLPLATFORM_REPLICA_ROLE": group.role,
        "MLPLATFORM_REPLICA_INDEX": str(replica["index"]),
        "MLPLATFORM_CLUSTER": cluster,
        "MLPLATFORM_PORT": str(replica["port"]),
        "CUDA_VISIBLE_DEVICES": ",".join(gpus),
    }
    env |= {_volume_env(volume): str(path) for volume, path in volumes.items()}
    # Paths the replica would see in a container name host folders here.
    homes = {wiring.files_dir: files_dir, **{volume.mount_path: path for volume, path in volumes.items()}}
    extra = group.local.env if group.local is not None else {}
    plain = {name: _rehome(value, homes) for name, value in {**wiring.env, **group.env, **extra}.items()}
    return env | expand_all(plain, env) | dict(wiring.secret_env)


def _volume_env(volume: Volume) -> str:
    return f"MLPLATFORM_VOLUME_{volume.name.upper().replace('-', '_')}"


def _basic_env() -> dict[str, str]:
    """What a process needs from this host: PATH (the venv's bin first), HOME, locale, and the venv."""
    env = {name: os.environ[name] for name in BASIC_ENV if name in os.environ}
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
        env["PATH"] = os.pathsep.join([str(Path(sys.prefix) / "bin"), env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"  # logs show up as they are written
    return env


def _rehome(value: str, homes: Mapping[str, Path]) -> str:
    for container_path, host_path in homes.items():
        base = container_path.rstrip("/")
        if value == base or value.startswith(base + "/"):
            return str(host_path) + value[len(base) :]
    return value


def _cluster(workload: dict) -> str:
    """MLPLATFORM_CLUSTER: {role: ["127.0.0.1:port", ...]}, every replica on its own port."""
    cluster: dict[str, list[str]] = collections.defaultdict(list)
    for replica in workload["replicas"]:
        cluster[replica["role"]].append(f"{LOOPBACK}:{replica['port']}")
    return json.dumps(cluster, separators=(",", ":"))


def _free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (all held open while choosing)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is filtered by the umask


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- processes ------------------------------------------------------------------------------


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    """Whether `pid` runs: a zombie (exited, not yet reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust kill
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _launcher_alive(pid: int, replica_dir: Path) -> bool:
    """Whether `pid` is still this replica's launcher, not a process that reused its pid."""
    if not process_alive(pid):
        return False
    try:
        return str(replica_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()


def _replica_alive(replica_dir: Path) -> bool:
    """A launcher, or a child that outlived its launcher; never after result.json (pids get reused)."""
    if (replica_dir / RESULT_FILE).exists():
        return False
    launcher_pid = _read_pid(replica_dir / LAUNCHER_PID_FILE)
    if launcher_pid is not None and _launcher_alive(launcher_pid, replica_dir):
        return True
    child_pid = _read_pid(replica_dir / PID_FILE)
    return child_pid is not None and process_alive(child_pid)


def _signal_replica(replica_dir: Path, signum: int) -> None:
    """SIGTERM goes to a live launcher, which stops its child; without one (or for SIGKILL) the
    child's process group gets it directly."""
    launcher_pid = _read_pid(replica_dir / LAUNCHER_PID_FILE)
    launcher_alive = launcher_pid is not None and _launcher_alive(launcher_pid, replica_dir)
    child_pid = _read_pid(replica_dir / PID_FILE)
    if child_pid is not None and (signum == signal.SIGKILL or not launcher_alive):
        kill_group(child_pid, signum)
    if launcher_alive:
        os.kill(launcher_pid, signum)


def _replica_ended(replica_dir: Path) -> bool:
    if not replica_dir.is_dir() or (replica_dir / RESULT_FILE).exists():
        return True
    if (replica_dir.parent / CANCELLED_FILE).exists():
        return not _replica_alive(replica_dir)
    pid = _read_pid(replica_dir / LAUNCHER_PID_FILE)
    return pid is not None and not _launcher_alive(pid, replica_dir)


def _replica_status(
    replica_dir: Path, replica: dict
) -> tuple[ReplicaStatus, datetime | None, datetime | None]:
    """The replica's status, when its child first started, and when it ended."""
    record = _replica_record(replica_dir)
    phase = Phase(record["phase"])
    status = ReplicaStatus(
        replica["role"],
        replica["index"],
        phase,
        exit_code=record.get("exit_code"),
        restarts=record.get("restarts", max(record.get("attempts", 1) - 1, 0)),
        message=record.get("reason") or "",
        # Nothing to schedule or pull here: a process starts at once.
        stage={Phase.PENDING: Stage.STARTING, Phase.RUNNING: Stage.READY}.get(phase),
        address=f"{LOOPBACK}:{replica['port']}" if replica.get("port") else "",
    )
    return status, _when(record.get("started_at")), _when(record.get("finished_at"))


def _replica_record(replica_dir: Path) -> dict:
    """result.json where the replica ended, else its progress in the same shape."""
    result = read_json(replica_dir / RESULT_FILE)
    if result is not None:
        return result
    status = read_json(replica_dir / STATUS_FILE) or {}
    progress = {"restarts": status.get("restarts", 0), "started_at": status.get("started_at")}
    pid = _read_pid(replica_dir / LAUNCHER_PID_FILE)
    if pid is None or _launcher_alive(pid, replica_dir):
        if status.get("state") == "running" and status.get("ready"):
            return progress | {"phase": "running"}
        return progress | {"phase": "pending", "reason": status.get("message") or _waiting_for(status)}
    # The launcher may have written its result between the two reads.
    return read_json(replica_dir / RESULT_FILE) or progress | {
        "phase": "failed",
        "reason": "the launcher died",
    }


def _waiting_for(status: dict) -> str:
    return "not ready yet" if status.get("state") == "running" else "starting"


def _failure_message(run_dir: Path, replica: ReplicaStatus) -> str:
    """`worker-1 failed: exit code 3 (FailJob rule); last output: a | b`, on one line: the last
    FAILURE_LOG_LINES lines of the last attempt."""
    path = run_dir / f"{replica.role}-{replica.index}" / OUTPUT_FILE
    lines, _ = _tail(path, FAILURE_LOG_LINES, partial_last=True)
    marks = [i for i, line in enumerate(lines) if line.startswith(ATTEMPT_MARK)]
    lines = lines[marks[-1] + 1 :] if marks else lines  # the failed attempt's own output
    message = f"{replica.role}-{replica.index} failed: {replica.message}"
    return f"{message}; last output: {' | '.join(lines)}" if lines else message


def _cancelled_result(replica_dir: Path) -> dict:
    status = read_json(replica_dir / STATUS_FILE) or {}
    return {
        "phase": "failed",
        "exit_code": None,
        "attempts": status.get("attempt", 0),
        "reason": "cancelled",
        "started_at": status.get("started_at"),
        "finished_at": now(),
    }


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --- log files ------------------------------------------------------------------------------

TAIL_BLOCK = 64 * 1024


def _tail(path: Path, count: int | None, *, partial_last: bool) -> tuple[list[str], int]:
    """The last `count` lines (all where None) and the offset just after them. A last line without
    its newline yet counts only with `partial_last` (follow leaves it to finish)."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            start, data = size, b""
            while start > 0 and (count is None or data.count(b"\n") <= count):
                start = 0 if count is None else max(start - TAIL_BLOCK, 0)
                log.seek(start)
                data = log.read(size - start)
    except FileNotFoundError:
        return [], 0
    end = len(data) if partial_last else data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if start > 0:
        lines = lines[1:]  # the first may be cut
    if count is not None:
        lines = lines[-count:] if count else []
    return [_decode(line) for line in lines], start + end


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read()
    except FileNotFoundError:
        return b""


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r")
