"""The environment contract: what every backend tells each replica about itself, in `MLPLATFORM_*`.

Apps' replicas (Jupyter's launcher, the trainer runtime, the predictor server) read these names,
and specs refer to them as `$(NAME)` in env values, commands and args. Every backend gives them
the same way (`replica_env`), first and in this order:

    MLPLATFORM_WORKLOAD       the workload's id, 32 hex digits
    MLPLATFORM_REPLICA_ROLE   the replica's group: master, chief, worker, ps, evaluator, server, notebook
    MLPLATFORM_REPLICA_INDEX  its index in the group, from 0
    MLPLATFORM_CLUSTER        JSON {role: ["host:port", ...]}: where replicas reach each other.
                              Batch groups list each replica by index; others may list one address
                              for the whole group (its Service on Kubernetes)
    MLPLATFORM_PORT           the port the replica listens on: the port of its own address in
                              MLPLATFORM_CLUSTER (a free loopback port on the local backend, the
                              group's first declared port in a pod)
    MLPLATFORM_VOLUME_<NAME>  the folder where the group's volume <name> is mounted (upper case,
                              '-' as '_'), one per volume

Then come the storage wiring's env (storage.access names them: `MLPLATFORM_DEFAULT_BUCKET`, the
default connection's URI; `MLPLATFORM_LOCAL_BUCKETS`, the folder of file:// buckets) and the group's own
env, each value expanded against everything before it (the kubelet's `$(NAME)` rule, so a name
means the same on every backend; the group's value wins over the wiring's), and secret values last,
never expanded. Names an app gives its own replicas (MLPLATFORM_TRAINING_JOB, MLPLATFORM_NOTEBOOK_*)
are that app's.

Standard library only (and Python 3.7's syntax), no Django: a runtime that runs without the
project may import it.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "MLPLATFORM_"
WORKLOAD = "MLPLATFORM_WORKLOAD"
REPLICA_ROLE = "MLPLATFORM_REPLICA_ROLE"
REPLICA_INDEX = "MLPLATFORM_REPLICA_INDEX"
CLUSTER = "MLPLATFORM_CLUSTER"
PORT = "MLPLATFORM_PORT"
VOLUME_PREFIX = "MLPLATFORM_VOLUME_"


def volume_variable(volume: str) -> str:
    """MLPLATFORM_VOLUME_<NAME> for the volume named `volume` (`scratch-data`: ..._SCRATCH_DATA)."""
    return VOLUME_PREFIX + volume.upper().replace("-", "_")


def replica_env(
    *, workload: str, role: str, index: int, cluster: str, port: int, volumes: Mapping[str, str]
) -> dict[str, str]:
    """The injected variables of one replica, in the contract's order; `cluster` is the JSON of
    MLPLATFORM_CLUSTER, `volumes` maps each volume's name to the folder where it is mounted."""
    env = {
        WORKLOAD: workload,
        REPLICA_ROLE: role,
        REPLICA_INDEX: str(index),
        CLUSTER: cluster,
        PORT: str(port),
    }
    env.update((volume_variable(name), path) for name, path in volumes.items())
    return env
