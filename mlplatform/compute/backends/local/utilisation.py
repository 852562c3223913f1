"""What local replicas use now: psutil over each one's process tree (the launcher's child and its
descendants), and their GPUs through nvidia-smi where there is one (else: not measured)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from mlplatform.compute.backends.base import ReplicaUsage
from mlplatform.compute.backends.local.launcher import PID_FILE, RESULT_FILE
from mlplatform.compute.backends.local.processes import read_pid
from mlplatform.quotas.inventory import nvidia_smi

CPU_WINDOW_SECONDS = 0.5  # CPU time is counted over this long, once for all replicas
MIB = 1024 * 1024


@dataclass(frozen=True)
class Replica:
    """A replica to measure: its folder and the GPU indexes it holds."""

    role: str
    index: int
    folder: Path
    gpus: tuple[str, ...] = ()


def processes(replica_dir: Path) -> list[psutil.Process]:
    """The replica's child and its descendants; none once it ended or when its pid was reused."""
    pid_file = replica_dir / PID_FILE
    pid = read_pid(pid_file)
    if pid is None or (replica_dir / RESULT_FILE).exists():
        return []
    try:
        child = psutil.Process(pid)
        if child.create_time() > pid_file.stat().st_mtime + 1:  # started after the pid was written
            return []
        if child.status() == psutil.STATUS_ZOMBIE:
            return []
        return [child, *child.children(recursive=True)]
    except (psutil.Error, FileNotFoundError):
        return []


def measure(replicas: Sequence[Replica], *, window: float = CPU_WINDOW_SECONDS) -> tuple[ReplicaUsage, ...]:
    """The usage of each replica that runs, CPU over one shared `window`."""
    trees = {replica: processes(replica.folder) for replica in replicas}
    trees = {replica: tree for replica, tree in trees.items() if tree}
    if not trees:
        return ()
    for tree in trees.values():
        for process in tree:
            _quietly(process.cpu_percent)  # the first call starts the count
    time.sleep(window)
    gpus = _GpuReadings.read() if any(replica.gpus for replica in trees) else None
    usages = []
    for replica, tree in trees.items():
        cpu = sum(_quietly(process.cpu_percent) or 0.0 for process in tree) / 100
        memory = sum(getattr(_quietly(process.memory_info), "rss", 0) for process in tree)
        percent, gpu_memory = (None, None)
        if gpus is not None and replica.gpus:
            percent, gpu_memory = gpus.of(replica.gpus, {process.pid for process in tree})
        usages.append(ReplicaUsage(replica.role, replica.index, round(cpu, 3), memory, percent, gpu_memory))
    return tuple(sorted(usages, key=lambda usage: (usage.role, usage.index)))


@dataclass(frozen=True)
class _GpuReadings:
    """One nvidia-smi reading: utilisation per GPU index, GPU memory per process."""

    percent: Mapping[str, float]
    memory: Mapping[int, int]  # pid -> bytes

    @classmethod
    def read(cls) -> _GpuReadings | None:
        """None without nvidia-smi (or when it fails): nothing is measured then."""
        gpus = [line.split(",") for line in nvidia_smi("index,utilization.gpu")]
        if not gpus:
            return None
        apps = [line.split(",") for line in nvidia_smi("pid,used_memory", query="compute-apps")]
        return cls(
            percent={index.strip(): float(value) for index, value in gpus if _number(value)},
            memory={int(pid): int(float(used)) * MIB for pid, used in apps if _number(pid) and _number(used)},
        )

    def of(self, indexes: Sequence[str], pids: set[int]) -> tuple[float | None, int]:
        known = [self.percent[index] for index in indexes if index in self.percent]
        percent = round(sum(known) / len(known), 1) if known else None
        return percent, sum(used for pid, used in self.memory.items() if pid in pids)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _quietly(call):
    """`call()`, or None for a process that ended meanwhile (or that we may not read)."""
    try:
        return call()
    except psutil.Error:
        return None
