"""Supervises one replica of a local workload, detached from the worker that started it.

    python -m mlplatform.compute.backends.local.launcher RUN_DIR

RUN_DIR is the replica's folder. The launcher reads `replica.json` (argv, env file, cwd, restart and
failure policy, grace period, readiness URL), forks into the background (the parent writes
`launcher.pid` and exits, so the worker never has to reap it), and runs the child in its own
process group with stdout and stderr appended to `output.log`. It keeps `pid` and `status.json`
current and ends with `result.json`. Retries follow batch/v1: a FailJob rule fails at once,
Ignore retries without counting, Count (and no rule) counts toward `backoff_limit`. SIGTERM
stops the child's group (SIGKILL after the grace period) and ends as cancelled.

Standard library only: the backend runs it with `python -I`, without Django or the project.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from http.client import HTTPException
from pathlib import Path

POLL_SECONDS = 0.05
PROBE_SECONDS = 0.5
MAX_RESTART_DELAY_SECONDS = 30.0

REPLICA_FILE = "replica.json"
LAUNCHER_PID_FILE = "launcher.pid"
PID_FILE = "pid"
STATUS_FILE = "status.json"
RESULT_FILE = "result.json"
OUTPUT_FILE = "output.log"
LAUNCHER_LOG_FILE = "launcher.log"
ATTEMPT_MARK = "--- attempt "


def now() -> str:
    return datetime.now(UTC).isoformat()


def write_json(path: Path, data: object, mode: int = 0o644) -> None:
    """Write `data` so that readers see the old file or the new one, never half of it."""
    write_text(path, json.dumps(data, indent=1), mode)


def write_text(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


class Supervisor:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.config = json.loads((run_dir / REPLICA_FILE).read_text())
        self.env = json.loads(Path(self.config["env_file"]).read_text())
        self.stop_reason: str | None = None
        self.started_at: str | None = None
        self.ready = False
        self.next_probe = 0.0
        max_run = self.config.get("max_run_seconds")
        # Like a Job's activeDeadlineSeconds: one deadline for all attempts together.
        self.deadline = time.monotonic() + max_run if max_run else None

    def run(self) -> None:
        attempts = restarts = counted = 0
        always = self.config["restart"] == "always"
        while True:
            attempts += 1
            code = self._attempt(attempts, restarts)
            if code is None:
                return self._finish("failed", None, attempts, self.stop_reason)
            if not always:
                if code == 0:
                    return self._finish("succeeded", 0, attempts, "exit code 0")
                action = self._action(code)
                if action == "FailJob":
                    return self._finish("failed", code, attempts, f"exit code {code} (FailJob rule)")
                counted += action != "Ignore"
                limit = self.config["backoff_limit"]
                if counted > limit:
                    reason = f"exit code {code}" + (f" (backoff limit {limit} reached)" if limit else "")
                    return self._finish("failed", code, attempts, reason)
            restarts += 1
            if not self._wait_to_restart(code, attempts, restarts):
                return self._finish("failed", code, attempts, self.stop_reason)

    def stop(self, signum=None, frame=None) -> None:
        self.stop_reason = self.stop_reason or "cancelled"

    def _action(self, code: int) -> str:
        for rule in self.config["rules"]:
            if code in rule["exit_codes"]:
                return rule["action"]
        return "Count"

    def _attempt(self, number: int, restarts: int) -> int | None:
        """Run the child once: its exit code, or None where it was stopped (`stop_reason` says why)."""
        if self._should_stop():
            return None
        argv = self.config["argv"]
        with open(self.run_dir / OUTPUT_FILE, "ab") as log:
            log.write(f"{ATTEMPT_MARK}{number} started at {now()} ---\n".encode())
            log.flush()
            try:
                child = subprocess.Popen(
                    argv,
                    env=self.env,
                    cwd=self.config["cwd"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                log.write(f"cannot start {argv[0]}: {exc.strerror}\n".encode())
                self.stop_reason = f"cannot start {argv[0]}: {exc.strerror}"
                return None
        self.started_at = self.started_at or now()
        self.ready = not self.config.get("readiness_url")  # a restarted child is probed afresh
        write_text(self.run_dir / PID_FILE, str(child.pid))
        self._write_status("running", number, restarts)
        while not _exited(child.pid):
            if self._should_stop():
                self._stop(child)
                return None
            self._probe(number, restarts)
            time.sleep(POLL_SECONDS)
        kill_group(child.pid, signal.SIGKILL)  # what the child left behind ends with it
        code = child.wait()
        return code if code >= 0 else 128 - code  # killed by a signal: 128 + its number, like a shell

    def _should_stop(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline and self.stop_reason is None:
            self.stop_reason = f"ran longer than {self.config['max_run_seconds']} s"
        return self.stop_reason is not None

    def _stop(self, child: subprocess.Popen) -> None:
        kill_group(child.pid, signal.SIGTERM)
        grace_ends = time.monotonic() + self.config["grace_seconds"]
        while time.monotonic() < grace_ends and not _exited(child.pid):
            time.sleep(POLL_SECONDS)
        kill_group(child.pid, signal.SIGKILL)
        child.wait()

    def _wait_to_restart(self, code: int, attempts: int, restarts: int) -> bool:
        """Back off before the next attempt (doubling, capped); False where a stop came first."""
        delay = min(self.config["restart_delay_seconds"] * 2 ** (restarts - 1), MAX_RESTART_DELAY_SECONDS)
        message = f"exit code {code}, restarting in {delay:g} s"
        self._write_status("waiting", attempts, restarts, message)
        ends = time.monotonic() + delay
        while time.monotonic() < ends:
            if self._should_stop():
                return False
            time.sleep(POLL_SECONDS)
        return True

    def _probe(self, attempt: int, restarts: int) -> None:
        """HTTP GET on the readiness URL every PROBE_SECONDS until it answers below 400."""
        if self.ready or time.monotonic() < self.next_probe:
            return
        self.next_probe = time.monotonic() + PROBE_SECONDS
        try:
            with urllib.request.urlopen(self.config["readiness_url"], timeout=PROBE_SECONDS) as response:
                self.ready = response.status < 400
        except (OSError, HTTPException):  # refused, 4xx/5xx (HTTPError), or a garbled answer
            return
        if self.ready:
            self._write_status("running", attempt, restarts)

    def _write_status(self, state: str, attempt: int, restarts: int, message: str = "") -> None:
        status = {
            "state": state,
            "attempt": attempt,
            "restarts": restarts,
            "ready": self.ready,
            "message": message,
            "started_at": self.started_at,
        }
        write_json(self.run_dir / STATUS_FILE, status)

    def _finish(self, phase: str, code: int | None, attempts: int, reason: str | None) -> None:
        result = {
            "phase": phase,
            "exit_code": code,
            "attempts": attempts,
            "reason": reason,
            "started_at": self.started_at,
            "finished_at": now(),
        }
        write_json(self.run_dir / RESULT_FILE, result)


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it: until reaped, its group id cannot be reused."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def main(argv: list[str] | None = None) -> None:
    run_dir = Path((argv or sys.argv[1:])[0]).resolve()
    supervisor = Supervisor(run_dir)
    # Before the fork, so that a cancel arriving at once is not lost.
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    pid = os.fork()
    if pid:
        write_text(run_dir / LAUNCHER_PID_FILE, str(pid))
        os._exit(0)
    supervisor.run()


if __name__ == "__main__":
    main()
