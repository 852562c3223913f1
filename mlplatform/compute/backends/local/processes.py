"""A replica's processes as its folder names them: the launcher (launcher.pid) and its child (pid).
Whether they still run (pids get reused: a launcher is checked by its command line), and signals."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from mlplatform.compute.backends.local.launcher import LAUNCHER_PID_FILE, PID_FILE, RESULT_FILE, kill_group
from mlplatform.compute.backends.local.layout import CANCELLED_FILE

POLL_SECONDS = 0.05  # how often a wait for processes (or their output) looks again


def read_pid(path: Path) -> int | None:
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


def launcher_alive(pid: int, replica_dir: Path) -> bool:
    """Whether `pid` is still this replica's launcher, not a process that reused its pid."""
    if not process_alive(pid):
        return False
    try:
        return str(replica_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()


def replica_alive(replica_dir: Path) -> bool:
    """A launcher, or a child that outlived its launcher; never after result.json (pids get reused)."""
    if (replica_dir / RESULT_FILE).exists():
        return False
    launcher_pid = read_pid(replica_dir / LAUNCHER_PID_FILE)
    if launcher_pid is not None and launcher_alive(launcher_pid, replica_dir):
        return True
    child_pid = read_pid(replica_dir / PID_FILE)
    return child_pid is not None and process_alive(child_pid)


def replica_ended(replica_dir: Path) -> bool:
    """It has its result, or its launcher died, or (cancelled) none of its processes runs."""
    if not replica_dir.is_dir() or (replica_dir / RESULT_FILE).exists():
        return True
    if (replica_dir.parent / CANCELLED_FILE).exists():
        return not replica_alive(replica_dir)
    pid = read_pid(replica_dir / LAUNCHER_PID_FILE)
    return pid is not None and not launcher_alive(pid, replica_dir)


def holds_gpus(replica_dir: Path) -> bool:
    """Whether the replica may still use its GPUs: it has not ended, its launcher did not die, its
    folder is there (a launcher about to start counts)."""
    if not replica_dir.is_dir() or (replica_dir / RESULT_FILE).exists():
        return False
    pid = read_pid(replica_dir / LAUNCHER_PID_FILE)
    return pid is None or launcher_alive(pid, replica_dir)


def signal_replica(replica_dir: Path, signum: int) -> None:
    """SIGTERM goes to a live launcher, which stops its child; without one (or for SIGKILL) the
    child's process group gets it directly."""
    launcher_pid = read_pid(replica_dir / LAUNCHER_PID_FILE)
    alive = launcher_pid is not None and launcher_alive(launcher_pid, replica_dir)
    child_pid = read_pid(replica_dir / PID_FILE)
    if child_pid is not None and (signum == signal.SIGKILL or not alive):
        kill_group(child_pid, signum)
    if alive:
        os.kill(launcher_pid, signum)
