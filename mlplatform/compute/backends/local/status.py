"""A local workload's status, read from its run folder alone (no process is asked, nothing waits):
so it survives a worker restart."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mlplatform.compute.backends.base import Phase, ReplicaStatus, Stage, WorkloadStatus
from mlplatform.compute.backends.local.addresses import address
from mlplatform.compute.backends.local.launcher import (
    ATTEMPT_MARK,
    LAUNCHER_PID_FILE,
    OUTPUT_FILE,
    RESULT_FILE,
    STATUS_FILE,
    now,
    read_json,
)
from mlplatform.compute.backends.local.layout import CANCELLED_FILE, WORKLOAD_FILE, replica_name
from mlplatform.compute.backends.local.logs import last_lines
from mlplatform.compute.backends.local.processes import launcher_alive, read_pid

FAILURE_LOG_LINES = 5
FAILURE_MESSAGE_MAX = 500  # what Workload.reason holds: the last lines are kept, the earliest dropped


def workload_status(run: Path) -> WorkloadStatus:
    workload = read_json(run / WORKLOAD_FILE)
    if workload is None:
        return WorkloadStatus(phase=Phase.MISSING)
    replicas, started, finished = [], [], []
    for replica in workload["replicas"]:
        status, started_at, finished_at = _replica_status(run / replica_name(replica), replica)
        replicas.append(status)
        started += [started_at] if started_at else []
        finished += [finished_at] if finished_at else []
    phases = {replica.phase for replica in replicas}
    failed = [replica for replica in replicas if replica.phase == Phase.FAILED]
    message = ""
    if (run / CANCELLED_FILE).exists():
        phase, message = Phase.MISSING, "cancelled"
    elif failed:
        phase, message = Phase.FAILED, _failure_message(run, failed[0])
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


def cancelled_result(replica_dir: Path) -> dict:
    """The result.json of a replica that cancel had to kill (its launcher wrote none)."""
    status = read_json(replica_dir / STATUS_FILE) or {}
    return {
        "phase": "failed",
        "exit_code": None,
        "attempts": status.get("attempt", 0),
        "reason": "cancelled",
        "started_at": status.get("started_at"),
        "finished_at": now(),
    }


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
        address=address(replica) if replica.get("port") else "",
    )
    return status, _when(record.get("started_at")), _when(record.get("finished_at"))


def _replica_record(replica_dir: Path) -> dict:
    """result.json where the replica ended, else its progress in the same shape."""
    result = read_json(replica_dir / RESULT_FILE)
    if result is not None:
        return result
    status = read_json(replica_dir / STATUS_FILE) or {}
    progress = {"restarts": status.get("restarts", 0), "started_at": status.get("started_at")}
    pid = read_pid(replica_dir / LAUNCHER_PID_FILE)
    if pid is None or launcher_alive(pid, replica_dir):
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


def _failure_message(run: Path, replica: ReplicaStatus) -> str:
    """`worker-1 failed: exit code 3 (FailJob rule); last output: a | b`, on one line: the last
    FAILURE_LOG_LINES lines of the last attempt, as many of them as fit in FAILURE_MESSAGE_MAX."""
    path = run / f"{replica.role}-{replica.index}" / OUTPUT_FILE
    lines, _ = last_lines(path, FAILURE_LOG_LINES, partial_last=True)
    marks = [i for i, line in enumerate(lines) if line.startswith(ATTEMPT_MARK)]
    lines = lines[marks[-1] + 1 :] if marks else lines  # the failed attempt's own output
    message = f"{replica.role}-{replica.index} failed: {replica.message}"
    if not lines:
        return message
    message += "; last output: "
    while len(lines) > 1 and len(message) + len(" | ".join(lines)) > FAILURE_MESSAGE_MAX:
        lines = lines[1:]  # long lines before the last (a traceback, a banner) must not crowd it out
    return message + " | ".join(lines)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
