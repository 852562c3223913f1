"""An MPI job's worker on the local backend: hold the worker's share of the gang while the
launcher's mpirun runs its ranks (launcher.py says why the ranks are the launcher's children here).

It connects to the launcher's address in MLPLATFORM_CLUSTER, says its index and the GPUs it was
given (the launcher hands them to the ranks), and ends when the launcher tells it
mpirun's exit code: the job's outcome is the launcher's, so the worker succeeds either way.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

CONNECT_SECONDS = 300


def launcher_address() -> tuple[str, int]:
    host, _, port = json.loads(os.environ["MLPLATFORM_CLUSTER"])["launcher"][0].rpartition(":")
    return host, int(port)


def main() -> int:
    index = os.environ["MLPLATFORM_REPLICA_INDEX"]
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        try:
            connection = socket.create_connection(launcher_address())
            break
        except OSError:
            if time.monotonic() > deadline:
                print(f"worker-{index}: the launcher never listened", flush=True)
                return 1
            time.sleep(0.2)
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    connection.sendall(json.dumps({"index": index, "gpus": gpus}).encode() + b"\n")
    print(f"worker-{index}: joined the launcher; its ranks run under the launcher's mpirun", flush=True)
    with connection:
        said = b"".join(iter(lambda: connection.recv(4096), b""))
    code = json.loads(said or b"{}").get("exit_code")
    print(f"worker-{index}: mpirun ended with exit code {code}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
