"""The local backend: every replica is a supervised child process on this machine (`make run`).

Its run folders (layout.py) hold everything it knows, so status (status.py) survives a worker
restart: launchers are detached (start.py, launcher.py). Each replica listens on a loopback port of
its own (addresses.py) and gets the platform's environment (environment.py); GPUs are handed out
through CUDA_VISIBLE_DEVICES from a ledger (gpus.py); logs are its output.log (logs.py).
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from django.conf import settings

from mlplatform.compute.backends.base import (
    Endpoint,
    FlavorInfo,
    ReplicaUsage,
    Wiring,
    WorkloadRef,
    WorkloadStatus,
)
from mlplatform.compute.backends.local import layout
from mlplatform.compute.backends.local.addresses import LOOPBACK, cluster, free_ports
from mlplatform.compute.backends.local.environment import local_replica_env
from mlplatform.compute.backends.local.gpus import GpuLedger, detect_gpus
from mlplatform.compute.backends.local.launcher import (
    LAUNCHER_PID_FILE,
    RESULT_FILE,
    now,
    read_json,
    write_json,
    write_text,
)
from mlplatform.compute.backends.local.layout import CANCELLED_FILE, PRIVATE_DIR, WORKLOAD_FILE, replica_name
from mlplatform.compute.backends.local.logs import replica_log
from mlplatform.compute.backends.local.processes import (
    POLL_SECONDS,
    holds_gpus,
    replica_alive,
    signal_replica,
)
from mlplatform.compute.backends.local.start import check_runnable, start_replica
from mlplatform.compute.backends.local.status import cancelled_result, workload_status
from mlplatform.compute.backends.local.utilisation import Replica, measure
from mlplatform.compute.spec import Volume, WorkloadSpec, spec_to_dict


class LocalBackend:
    """Implements base.Backend with processes under `root`; `gpus` are the indexes it may hand out."""

    name = "local"
    # A replica's output goes straight from its process to output.log (so it outlives the launcher):
    # nothing in between to note when each line came.
    log_timestamps = False

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

    def gpu_capacity(self) -> int:
        return len(self.ledger.inventory)  # this machine's GPUs (LOCAL_GPUS, else nvidia-smi's)

    def run_dir(self, ref: WorkloadRef) -> Path:
        return layout.run_dir(self.root, ref)

    # --- submit -------------------------------------------------------------------------------

    def submit(
        self, ref: WorkloadRef, spec: WorkloadSpec, flavors: Mapping[str, FlavorInfo], wiring: Wiring
    ) -> None:
        """Start a launcher for each replica that has none yet. Raises a permanent BackendError for a
        spec this backend cannot run, a temporary one when too few GPUs are free."""
        for group in spec.groups:
            check_runnable(group)
        run_dir = self.run_dir(ref)
        with layout.locked(run_dir.parent):
            if (run_dir / CANCELLED_FILE).exists():
                return
            workload = read_json(run_dir / WORKLOAD_FILE) or self._create(ref, spec, run_dir)
            replicas = [
                (group, replica)
                for group in spec.groups
                for replica in workload["replicas"]
                if replica["role"] == group.role
                and not (run_dir / replica_name(replica) / LAUNCHER_PID_FILE).exists()
            ]
            if not replicas:
                return
            gpus = self.ledger.allocate(
                {layout.owner(ref, replica): group.resources.gpus for group, replica in replicas},
                lambda owner: holds_gpus(self.root / "runs" / owner),
            )
            files_dir = self._write_files(run_dir, wiring)
            addresses = cluster(workload)
            for group, replica in replicas:
                replica_dir = run_dir / replica_name(replica)
                volumes = {
                    volume: self._volume_dir(ref, spec, volume, replica_dir) for volume in group.volumes
                }
                env = local_replica_env(
                    ref,
                    group,
                    replica,
                    volumes=volumes,
                    wiring=wiring,
                    files_dir=files_dir,
                    cluster=addresses,
                    gpus=gpus[layout.owner(ref, replica)],
                )
                cwd = next((path for volume, path in volumes.items() if volume.persistent), replica_dir)
                start_replica(
                    spec,
                    group,
                    replica_dir,
                    env,
                    cwd,
                    grace_seconds=self.grace_seconds,
                    restart_delay_seconds=self.restart_delay_seconds,
                )

    def _create(self, ref: WorkloadRef, spec: WorkloadSpec, run_dir: Path) -> dict:
        ports = free_ports(spec.replicas)
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
            (run_dir / replica_name(replica)).mkdir(parents=True, exist_ok=True)
        write_json(run_dir / WORKLOAD_FILE, workload)
        return workload

    def _write_files(self, run_dir: Path, wiring: Wiring) -> Path:
        files_dir = run_dir / PRIVATE_DIR / "files"
        layout.private_dir(run_dir / PRIVATE_DIR)
        layout.private_dir(files_dir)
        for file_name, content in wiring.files.items():
            write_text(files_dir / layout.segment(file_name), content, mode=0o600)
        return files_dir

    def _volume_dir(self, ref: WorkloadRef, spec: WorkloadSpec, volume: Volume, replica_dir: Path) -> Path:
        if volume.persistent:
            path = layout.volumes_of(self.root, ref.project, spec.name) / layout.segment(volume.name)
        else:
            path = replica_dir / "volumes" / layout.segment(volume.name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- status -------------------------------------------------------------------------------

    def statuses(self, refs: Iterable[WorkloadRef]) -> dict[str, WorkloadStatus]:
        """From the run folders alone: no process is started, nothing waits."""
        return {ref.id: workload_status(self.run_dir(ref)) for ref in refs}

    def utilisation(self, ref: WorkloadRef) -> tuple[ReplicaUsage, ...]:
        """psutil over each live replica's processes; GPUs through nvidia-smi where it is found."""
        run_dir = self.run_dir(ref)
        workload = read_json(run_dir / WORKLOAD_FILE)
        if workload is None or (run_dir / CANCELLED_FILE).exists():
            return ()
        held = self.ledger.held_by()
        return measure(
            [
                Replica(
                    r["role"],
                    r["index"],
                    run_dir / replica_name(r),
                    tuple(held.get(layout.owner(ref, r), ())),
                )
                for r in workload["replicas"]
            ]
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
            with layout.locked(run_dir.parent):  # no submit is half way through this run
                if not (run_dir / CANCELLED_FILE).exists():
                    write_text(run_dir / CANCELLED_FILE, now())
            live += [d for d in layout.replica_dirs(run_dir) if not (d / RESULT_FILE).exists()]
        for replica_dir in live:
            signal_replica(replica_dir, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds + 1  # the launchers escalate at grace
        while time.monotonic() < deadline and any(replica_alive(d) for d in live):
            time.sleep(POLL_SECONDS)
        for replica_dir in live:
            if not (replica_dir / RESULT_FILE).exists():  # else its launcher ended it, and pids get reused
                signal_replica(replica_dir, signal.SIGKILL)
                write_json(replica_dir / RESULT_FILE, cancelled_result(replica_dir))

    def delete_volumes(self, project: str, name: str) -> None:
        shutil.rmtree(layout.volumes_of(self.root, project, name), ignore_errors=True)

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
        self,
        ref: WorkloadRef,
        role: str,
        index: int,
        *,
        tail: int | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> Iterator[str]:
        """Lines of the replica's output.log (with a line marking each attempt); with `follow`,
        new lines as they come until the replica ends. Nothing for a replica never started. The
        lines carry no times (`log_timestamps` is False): `timestamps` changes nothing."""
        replica_dir = self.run_dir(ref) / f"{layout.segment(role)}-{int(index)}"
        yield from replica_log(replica_dir, tail, follow=follow)

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
