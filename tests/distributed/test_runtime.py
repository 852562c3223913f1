"""The local launcher and worker runtimes as real processes (no Django): the launcher waits for
every worker, hands the ranks the gang's GPUs, and names a missing mpirun."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from distributed_app.runtime import launcher, worker

needs_mpirun = pytest.mark.skipif(
    shutil.which("mpirun") is None, reason="Debian's openmpi-bin is not installed"
)
SHOW_GPUS = "import os; print('gpus=' + os.environ.get('CUDA_VISIBLE_DEVICES', ''), flush=True)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def replica_env(port: int, index: int, **extra: str) -> dict[str, str]:
    cluster = json.dumps({"launcher": [f"127.0.0.1:{port}"]})
    return {
        **os.environ,
        "MLPLATFORM_PORT": str(port),
        "MLPLATFORM_CLUSTER": cluster,
        "MLPLATFORM_REPLICA_INDEX": str(index),
        **extra,
    }


@needs_mpirun
def test_every_rank_sees_the_gpus_the_workers_were_given_in_worker_order(tmp_path):
    port = free_port()
    workers = [
        subprocess.Popen(
            [sys.executable, worker.__file__],
            env=replica_env(port, i, CUDA_VISIBLE_DEVICES=str(3 - i)),
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in (1, 0)  # in any order
    ]
    ran = subprocess.run(
        [
            sys.executable,
            launcher.__file__,
            "--workers",
            "2",
            "--slots",
            "1",
            "--",
            sys.executable,
            "-c",
            SHOW_GPUS,
        ],
        env=replica_env(port, 0),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.count("gpus=3,2") == 2  # tagged output may split a line from its newline
    assert (tmp_path / "hostfile").read_text() == "localhost slots=2\n"
    for process in workers:
        assert process.wait(timeout=30) == 0
        assert "mpirun ended with exit code 0" in process.stdout.read()


def test_without_mpirun_the_launcher_fails_naming_it(tmp_path):
    ran = subprocess.run(
        [
            sys.executable,
            launcher.__file__,
            "--mpirun",
            "mpirun-missing",
            "--workers",
            "1",
            "--slots",
            "1",
            "--",
            "x",
        ],
        env=replica_env(free_port(), 0),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert ran.returncode == 127
    assert "mpirun-missing not found on PATH: this job needs an MPI (Debian's openmpi-bin)" in ran.stdout


def test_a_ranks_line_that_openmpi_forwarded_in_pieces_reads_whole():
    """Under load OpenMPI writes a rank's line in tagged pieces, tags inside the line."""
    pieces = "[1,1]<stderr>:ValueError[1,1]<stderr>:: [1,1]<stderr>:loss is nan at step 7[1,1]<stderr>:"
    code, last, errors = launcher.run([sys.executable, "-c", f"print({pieces!r}); raise SystemExit(1)"])

    summary = launcher.failure_summary(code, last, errors)
    assert summary == "mpirun exited with code 1; rank 1: ValueError: loss is nan at step 7"
