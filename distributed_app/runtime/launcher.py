"""An MPI job's launcher on the local backend: wait for every worker, write the hostfile, run
`mpirun` over it, and end with its exit code (a failing rank's last line printed last, so the
job's failure message names it).

The workers are the ranks that this mpirun starts on this machine (one host, loopback slots):
OpenMPI's own launch needs no ssh then. The worker replicas (worker.py) hold their share of the
gang while it runs: the launcher starts mpirun only once all of them are connected, as
mpi-operator's launcher waits for its workers, and tells them the exit code at the end.

    python launcher.py --workers 3 --slots 1 -- python train.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HOSTFILE = "hostfile"
# As the Kubernetes launcher prints them: the job page shows what is between.
HOSTFILE_BEGIN, HOSTFILE_END = "--- hostfile ---", "--- end of hostfile ---"
WAIT_SECONDS = 300  # for the workers to connect
MAX_RANKS_NAMED = 3  # in the failure line: the job's message keeps its end
NOT_FOUND = 127  # a shell's code for a command it cannot find
# --tag-output's prefix, [job,rank]<stream>:, which a loaded OpenMPI also writes inside a line
# when it forwards a rank's line in pieces ("ValueError[1,1]<stderr>:: loss is nan")
TAG = re.compile(r"\[\d+,(\d+)\]<(stdout|stderr)>:")


def hostfile(workers: int, slots: int) -> str:
    """One loopback host with a slot per rank: every worker's slots."""
    return f"localhost slots={workers * slots}\n"


def mpirun_command(mpirun: str, *, ranks: int, hostfile_path: str, command: list[str]) -> list[str]:
    command_line = [mpirun, "--hostfile", hostfile_path, "-np", str(ranks), "--oversubscribe", "--tag-output"]
    if os.geteuid() == 0:  # OpenMPI refuses root unless told; pods never run as root
        command_line.append("--allow-run-as-root")
    return [*command_line, *command]


def wait_for_workers(
    server: socket.socket, workers: int, deadline: float
) -> dict[int, tuple[socket.socket, str]]:
    """Each worker's connection and the GPUs it was given (its CUDA_VISIBLE_DEVICES), by index."""
    connected: dict[int, tuple[socket.socket, str]] = {}
    while len(connected) < workers:
        server.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            connection, _ = server.accept()
            hello = json.loads(connection.makefile().readline())
        except TimeoutError:
            raise SystemExit(
                f"only {len(connected)} of {workers} workers came up in {WAIT_SECONDS} s"
            ) from None
        connected[int(hello["index"])] = (connection, hello.get("gpus", ""))
    return connected


def gang_gpus(workers: dict[int, tuple[socket.socket, str]]) -> str:
    """The workers' GPUs in worker order: each rank picks its own by its local rank among them."""
    return ",".join(gpus for _, (_, gpus) in sorted(workers.items()) if gpus)


def run(command: list[str]) -> tuple[int, dict[int, str], dict[int, str]]:
    """mpirun's exit code, and each rank's last line of output and of its stderr."""
    last: dict[int, str] = {}
    errors: dict[int, str] = {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            tagged = TAG.match(line)
            text = TAG.sub("", line).strip()
            if tagged and text:
                rank, stream = int(tagged.group(1)), tagged.group(2)
                last[rank] = text
                if stream == "stderr":
                    errors[rank] = text
    return process.returncode, last, errors


def failure_summary(code: int, last: dict[int, str], errors: dict[int, str]) -> str:
    """One short line naming the ranks that said why: those that wrote to stderr, else any."""
    said = errors or last
    ranks = "; ".join(f"rank {rank}: {line}" for rank, line in sorted(said.items())[:MAX_RANKS_NAMED])
    return f"mpirun exited with code {code}" + (f"; {ranks}" if ranks else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--mpirun", default="mpirun")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    mpirun = shutil.which(args.mpirun)
    if mpirun is None:
        print(f"{args.mpirun} not found on PATH: this job needs an MPI (Debian's openmpi-bin)", flush=True)
        return NOT_FOUND
    with socket.create_server(("127.0.0.1", int(os.environ["MLPLATFORM_PORT"]))) as server:
        workers = wait_for_workers(server, args.workers, time.monotonic() + WAIT_SECONDS)
        with open(HOSTFILE, "w") as out:
            out.write(hostfile(args.workers, args.slots))
        print(f"{HOSTFILE_BEGIN}\n{hostfile(args.workers, args.slots)}{HOSTFILE_END}", flush=True)
        if gpus := gang_gpus(workers):  # the ranks are the launcher's children here: give them the gang's
            os.environ["CUDA_VISIBLE_DEVICES"] = gpus
        code, last, errors = run(
            mpirun_command(mpirun, ranks=args.workers * args.slots, hostfile_path=HOSTFILE, command=command)
        )
        for worker, _ in workers.values():
            worker.sendall(json.dumps({"exit_code": code}).encode())
            worker.close()
    if code:
        print(failure_summary(code, last, errors), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
