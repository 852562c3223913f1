"""How a local replica starts: what it runs, the replica.json its launcher reads, and the launcher,
detached from the worker (it writes launcher.pid and goes on alone)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlplatform.compute.backends.base import BackendError
from mlplatform.compute.backends.local import launcher
from mlplatform.compute.backends.local.addresses import LOOPBACK
from mlplatform.compute.backends.local.environment import basic_env
from mlplatform.compute.backends.local.launcher import LAUNCHER_LOG_FILE, REPLICA_FILE, write_json
from mlplatform.compute.backends.local.layout import env_file
from mlplatform.compute.envexpand import expand
from mlplatform.compute.replica_env import PORT
from mlplatform.compute.spec import ReplicaGroup, WorkloadKind, WorkloadSpec


def check_runnable(group: ReplicaGroup) -> None:
    """Raises a permanent BackendError for a group this backend cannot run."""
    if not argv(group):
        raise BackendError(
            f"replica group '{group.role}' has no command: the local backend runs processes on this "
            "machine and ignores the image, so it needs one",
            temporary=False,
        )
    if group.secret_env:
        names = ", ".join(f"{ref.secret}/{ref.key}" for ref in group.secret_env)
        raise BackendError(f"the local backend cannot read Kubernetes Secrets ({names})", temporary=False)


def argv(group: ReplicaGroup) -> tuple[str, ...]:
    """The group's local alternative when it has one, else its own command (which must run here)."""
    run = group.local
    return (*run.command, *run.args) if run is not None else (*group.command, *group.args)


def start_replica(
    spec: WorkloadSpec,
    group: ReplicaGroup,
    replica_dir: Path,
    env: dict[str, str],
    cwd: Path,
    *,
    grace_seconds: float,
    restart_delay_seconds: float,
) -> None:
    """Write the replica's env file and replica.json, and start its launcher. Raises a temporary
    BackendError when the launcher cannot start."""
    private_env = env_file(replica_dir)
    write_json(private_env, env, mode=0o600)
    readiness = None
    if group.readiness_path:
        readiness = f"http://{LOOPBACK}:{env[PORT]}/{group.readiness_path.lstrip('/')}"
    policy = spec.failure_policy
    config = {
        "argv": [expand(arg, env) for arg in argv(group)],
        "env_file": str(private_env),
        "cwd": str(cwd),
        # Like the Kubernetes shapes: Jobs never restart a pod in place, Deployments and
        # StatefulSets always do.
        "restart": "never" if spec.kind == WorkloadKind.BATCH else "always",
        "backoff_limit": policy.backoff_limit,
        "rules": [
            {"action": rule.action.value, "exit_codes": list(rule.exit_codes)} for rule in policy.rules
        ],
        "max_run_seconds": policy.max_run_seconds,
        "grace_seconds": grace_seconds,
        "restart_delay_seconds": restart_delay_seconds,
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
                env=basic_env(),
                check=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise BackendError(
                f"cannot start the launcher of {replica_dir.name} ({exc}); see {log.name}", temporary=True
            ) from exc
