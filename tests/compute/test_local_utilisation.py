"""Live utilisation on the local backend, measured on real busy processes under tmp_path."""

from __future__ import annotations

import os

import pytest

from mlplatform.compute.backends.local.backend import LocalBackend
from mlplatform.compute.spec import Resources
from tests.compute.test_local_backend import FLAVORS, NO_WIRING, group, new_ref, wait_for, workload

MIB = 1024 * 1024
ALLOCATED_MIB = 200
# Holds 200 MiB of touched (resident) memory, says so with a file in its cwd, then spins a core.
BUSY = f"""
block = bytearray({ALLOCATED_MIB} * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
open("ready", "w").close()
while True:
    pass
"""


@pytest.fixture
def backend(tmp_path):
    backend = LocalBackend(tmp_path / "local", gpus=["0"], grace_seconds=0.5)
    yield backend
    backend.collect_garbage(set())  # no process outlives its test


def start_busy(backend: LocalBackend, **fields):
    ref = new_ref()
    backend.submit(ref, workload(group("worker", BUSY, **fields)), FLAVORS, NO_WIRING)
    wait_for((backend.run_dir(ref) / "worker-0" / "ready").exists, "the busy replica to allocate")
    return ref


def test_a_busy_replica_shows_its_cpu_and_the_memory_it_allocated(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "no-nvidia-smi-here"))  # and none on this machine
    ref = start_busy(backend)

    (usage,) = backend.utilisation(ref)

    assert (usage.role, usage.index) == ("worker", 0)
    assert usage.cpu_cores > 0.1  # a spinning loop, on a machine whose 2 cores are shared
    assert ALLOCATED_MIB * MIB <= usage.memory_bytes < (ALLOCATED_MIB + 80) * MIB  # + the interpreter
    assert (usage.gpu_percent, usage.gpu_memory_bytes) == (None, None)  # not measured, never 0

    backend.cancel(ref)
    assert backend.utilisation(ref) == ()


def test_a_replica_on_a_gpu_shows_what_nvidia_smi_says_of_its_gpu_and_processes(
    backend, monkeypatch, tmp_path
):
    # This machine has no GPU: nvidia-smi's answer is the one thing stood in for. It names the
    # replica's own process (read from its pid file) with 1,536 MiB, and a stranger's.
    pid_file = tmp_path / "replica.pid"
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  --query-compute-apps=*) echo \"$(cat {pid_file}), 1536\"; echo '1, 99999' ;;\n"
        "  *) echo '0, 37'; echo '1, 90' ;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    ref = start_busy(backend, resources=Resources(flavor="a100", gpus=1))
    pid_file.write_text((backend.run_dir(ref) / "worker-0" / "pid").read_text())

    (usage,) = backend.utilisation(ref)

    assert usage.gpu_percent == 37.0  # GPU 0, the one it holds
    assert usage.gpu_memory_bytes == 1536 * MIB
    assert usage.cpu_cores > 0.1
