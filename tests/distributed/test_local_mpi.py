"""MPI jobs end to end on the local backend: the native API queues a launcher and three workers as
one workload, a real Celery worker admits the gang, and the launcher runs Debian's real `mpirun`
over a loopback hostfile, whose ranks run an mpi4py allreduce."""

from __future__ import annotations

import shutil
import textwrap
import time

import psutil
import pytest

from mlplatform.compute import backends
from mlplatform.compute.tasks import sync_workloads
from mlplatform.core.models import Role
from tests.factories import quota

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("real-worker"),
    pytest.mark.skipif(
        shutil.which("mpirun") is None,
        reason="Debian's openmpi-bin is not installed (.ci/run installs it; make test says how)",
    ),
]

ALLREDUCE = """
from mpi4py import MPI

world = MPI.COMM_WORLD
total = world.allreduce(world.Get_rank() + 1)
print(f"rank {world.Get_rank()} of {world.Get_size()}: sum {total}", flush=True)
"""
FAILING = """
from mpi4py import MPI

world = MPI.COMM_WORLD
if world.Get_rank() == 1:
    raise ValueError("loss is nan at step 7")
world.Barrier()
"""
JOBS = "/api/projects/team-a/distributed-jobs/"


@pytest.fixture
def team(project, settings, tmp_path, seeded_catalog):
    settings.DATA_DIR = tmp_path / "data"
    settings.COMPUTE_BACKEND = "local"
    settings.LOCAL_GPUS = "0"
    backends.get_backend.cache_clear()
    quota(project, "cpu", nominal_cpu=16, nominal_memory_gib=64)
    yield project
    backends.get_backend.cache_clear()


@pytest.fixture
def editor(api, member, celery_worker):
    return api(member(Role.EDITOR))


def script(tmp_path, source: str) -> str:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(source))
    return str(path)


def wait(client, name: str, states: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        sync_workloads.delay()  # beat's job in production
        job = client.get(f"{JOBS}{name}/").json()
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, f"{name} still {job['state']}"
        time.sleep(0.5)


def test_an_allreduce_over_three_ranks_sums_on_every_rank(team, editor, tmp_path, client, member):
    body = {"name": "allreduce", "command": ["python", script(tmp_path, ALLREDUCE)], "workers": 3}
    assert editor.post(JOBS, body, format="json").status_code == 201

    job = wait(editor, "allreduce", {"SUCCEEDED", "FAILED"})

    assert job["state"] == "SUCCEEDED", job["error_message"]
    client.force_login(member(Role.VIEWER))
    page = client.get("/projects/team-a/distributed/allreduce/")
    logs = dict(page.context["logs"])
    launcher = "".join(logs["launcher-0"])
    for rank in range(3):
        assert f"rank {rank} of 3: sum 6" in launcher
    assert page.context["hostfile"] == "localhost slots=3\n"
    assert sorted(logs) == ["launcher-0", "worker-0", "worker-1", "worker-2"]
    assert "mpirun ended with exit code 0" in "".join(logs["worker-2"])
    assert b"localhost slots=3" in page.content


def test_a_failing_rank_fails_the_job_with_its_message(team, editor, tmp_path):
    body = {"name": "nan", "command": ["python", "-m", "mpi4py", script(tmp_path, FAILING)], "workers": 3}
    assert editor.post(JOBS, body, format="json").status_code == 201

    job = wait(editor, "nan", {"SUCCEEDED", "FAILED"})

    assert job["state"] == "FAILED"
    assert "launcher-0 failed" in job["error_message"]
    assert "rank 1: ValueError: loss is nan at step 7" in job["error_message"]


SLEEPING = """
import time
from mpi4py import MPI

print(f"rank {MPI.COMM_WORLD.Get_rank()} sleeping", flush=True)
time.sleep(300)
"""


def running_ranks(path: str) -> list[psutil.Process]:
    """The rank processes of `path` (not the launcher or mpirun, whose arguments name it too)."""
    ranks = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline[-1:] == [path] and not any(a.endswith(("launcher.py", "mpirun")) for a in cmdline):
            ranks.append(process)
    return ranks


def test_cancel_ends_the_launcher_its_ranks_and_the_workers(team, editor, tmp_path):
    path = script(tmp_path, SLEEPING)
    body = {"name": "long", "command": ["python", path], "workers": 2}
    assert editor.post(JOBS, body, format="json").status_code == 201
    wait(editor, "long", {"RUNNING"})
    deadline = time.monotonic() + 60
    while len(ranks := running_ranks(path)) < 2:
        assert time.monotonic() < deadline, "the ranks never started"
        time.sleep(0.2)

    assert editor.post(f"{JOBS}long/cancel/", format="json").status_code == 200
    job = wait(editor, "long", {"CANCELLED"})

    assert job["state"] == "CANCELLED"
    _, alive = psutil.wait_procs(ranks, timeout=15)
    assert not alive
