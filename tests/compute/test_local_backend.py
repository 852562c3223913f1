"""The local backend with real processes: launchers, children and grandchildren under tmp_path."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import textwrap
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from mlplatform.compute.backends.base import BackendError, FlavorInfo, Phase, Wiring, WorkloadRef
from mlplatform.compute.backends.local.backend import LocalBackend
from mlplatform.compute.backends.local.gpus import detect_gpus, nvidia_smi_gpus
from mlplatform.compute.backends.local.processes import process_alive
from mlplatform.compute.spec import (
    ExitCodeAction,
    ExitCodeRule,
    FailurePolicy,
    ReplicaGroup,
    Resources,
    SecretRef,
    Volume,
    WorkloadKind,
    WorkloadSpec,
)

FLAVORS = {"cpu": FlavorInfo(name="cpu"), "a100": FlavorInfo(name="a100", resource_name="nvidia.com/gpu")}
NO_WIRING = Wiring()
SECRET = "s3cr3t-Value-9f2c"

# Writes its environment, cwd and arguments to the file named by its first argument.
DUMP_ENV = """
import json, os, sys
with open(sys.argv[1] + ".tmp", "w") as out:
    json.dump({"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv[1:]}, out)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
"""
# Exits with its n-th argument on its n-th attempt (the last one ever after), counting in its cwd.
EXIT_CODES = """
import pathlib, sys
counter = pathlib.Path("attempts")
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
print(f"attempt {n + 1}: boom")
sys.exit(int(sys.argv[min(n + 1, len(sys.argv) - 1)]))
"""
SLEEP = "import time; print('sleeping'); time.sleep(60)"


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", textwrap.dedent(code))


def group(role: str, code: str, *, count: int = 1, **fields) -> ReplicaGroup:
    return ReplicaGroup(role=role, count=count, image="ignored-here", command=python(code), **fields)


def workload(*groups: ReplicaGroup, name: str = "train", kind=WorkloadKind.BATCH, **policy) -> WorkloadSpec:
    return WorkloadSpec(name=name, kind=kind, groups=groups, failure_policy=FailurePolicy(**policy))


def new_ref(name: str = "train") -> WorkloadRef:
    return WorkloadRef(id=uuid.uuid4().hex, project="team-a", name=name)


def wait_for(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def status_of(backend: LocalBackend, ref: WorkloadRef):
    return backend.statuses([ref])[ref.id]


def wait_phase(backend: LocalBackend, ref: WorkloadRef, *phases: Phase):
    return wait_for(lambda: (s := status_of(backend, ref)).phase in phases and s, f"phase {phases}")


def read_json_file(path: Path) -> dict:
    wait_for(path.exists, str(path))
    return json.loads(path.read_text())


@pytest.fixture
def backend(tmp_path):
    backend = LocalBackend(tmp_path / "local", grace_seconds=0.5, restart_delay_seconds=0.05)
    yield backend
    backend.collect_garbage(set())  # no process outlives its test


# --- running -----------------------------------------------------------------------------------


def test_a_batch_of_two_groups_runs_with_expanded_env_and_the_cluster(backend, tmp_path, monkeypatch):
    # Given a master and two workers that dump their environment, and storage wiring
    monkeypatch.setenv("MLPLATFORM_TEST_LEAK", "must not reach the replica")
    env = {"OUT": str(tmp_path), "GREETING": "hello $(MLPLATFORM_REPLICA_ROLE) $(BUCKET)"}
    args = ("$(OUT)/$(MLPLATFORM_REPLICA_ROLE)-$(MLPLATFORM_REPLICA_INDEX).json", "$$(LITERAL)", "$(UNKNOWN)")
    spec = workload(
        group("master", DUMP_ENV, args=args, env=env, ports=(2222,)),
        group("worker", DUMP_ENV, count=2, args=args, env=env),
    )
    wiring = Wiring(
        env={
            "BUCKET": "s3://bucket",
            "GOOGLE_APPLICATION_CREDENTIALS": "/var/run/mlplatform/storage/gcs.json",
        },
        secret_env={"AWS_SECRET_ACCESS_KEY": "$(NOT_EXPANDED)"},
        files={"gcs.json": '{"type": "service_account"}'},
    )
    ref = new_ref()

    # When it is submitted
    backend.submit(ref, spec, FLAVORS, wiring)

    # Then every replica succeeds
    status = wait_phase(backend, ref, Phase.SUCCEEDED, Phase.FAILED)
    assert status.phase == Phase.SUCCEEDED, status.message
    assert [(r.role, r.index, r.phase, r.exit_code) for r in status.replicas] == [
        ("master", 0, Phase.SUCCEEDED, 0),
        ("worker", 0, Phase.SUCCEEDED, 0),
        ("worker", 1, Phase.SUCCEEDED, 0),
    ]
    assert status.started_at <= status.finished_at
    # ... and each saw the cluster, its own port and index, and the expanded env
    seen = {name: read_json_file(tmp_path / f"{name}.json") for name in ("master-0", "worker-0", "worker-1")}
    cluster = json.loads(seen["master-0"]["env"]["MLPLATFORM_CLUSTER"])
    assert set(cluster) == {"master", "worker"}
    assert len(cluster["worker"]) == 2
    addresses = [*cluster["master"], *cluster["worker"]]
    assert len(set(addresses)) == 3
    assert all(address.startswith("127.0.0.1:") for address in addresses)
    worker = seen["worker-1"]["env"]
    assert worker["MLPLATFORM_CLUSTER"] == seen["master-0"]["env"]["MLPLATFORM_CLUSTER"]
    assert cluster["worker"][1] == f"127.0.0.1:{worker['MLPLATFORM_PORT']}"
    assert [r.address for r in status.replicas] == addresses  # what the console shows, e.g. in TF_CONFIG
    assert worker["MLPLATFORM_WORKLOAD"] == ref.id
    assert (worker["MLPLATFORM_REPLICA_ROLE"], worker["MLPLATFORM_REPLICA_INDEX"]) == ("worker", "1")
    assert worker["GREETING"] == "hello worker s3://bucket"
    assert worker["AWS_SECRET_ACCESS_KEY"] == "$(NOT_EXPANDED)"  # secret values are never expanded
    assert worker["CUDA_VISIBLE_DEVICES"] == ""
    assert "MLPLATFORM_TEST_LEAK" not in worker
    assert seen["worker-1"]["argv"] == [str(tmp_path / "worker-1.json"), "$(LITERAL)", "$(UNKNOWN)"]
    assert seen["worker-1"]["cwd"] == str(backend.run_dir(ref) / "worker-1")
    # The credentials file is where the rewritten variable points.
    credentials = Path(worker["GOOGLE_APPLICATION_CREDENTIALS"])
    assert credentials.read_text() == '{"type": "service_account"}'
    assert credentials.is_relative_to(backend.run_dir(ref))


@pytest.mark.parametrize(
    ("codes", "policy", "phase", "restarts", "reason"),
    [
        pytest.param(
            ("3",),
            {"backoff_limit": 5, "rules": (ExitCodeRule(ExitCodeAction.FAIL_JOB, (3,)),)},
            Phase.FAILED,
            0,
            "exit code 3 (FailJob rule)",
            id="FailJob stops at once",
        ),
        pytest.param(
            ("1",),
            {"backoff_limit": 2, "rules": (ExitCodeRule(ExitCodeAction.COUNT, (1,)),)},
            Phase.FAILED,
            2,
            "exit code 1 (backoff limit 2 reached)",
            id="Count retries up to the backoff limit",
        ),
        pytest.param(
            ("4", "4", "0"),
            {"backoff_limit": 0, "rules": (ExitCodeRule(ExitCodeAction.IGNORE, (4,)),)},
            Phase.SUCCEEDED,
            2,
            "exit code 0",
            id="Ignore retries without counting",
        ),
    ],
)
def test_exit_code_rules_decide_retries(backend, codes, policy, phase, restarts, reason):
    ref = new_ref()
    backend.submit(ref, workload(group("worker", EXIT_CODES, args=codes), **policy), FLAVORS, NO_WIRING)

    status = wait_phase(backend, ref, Phase.SUCCEEDED, Phase.FAILED)

    assert status.phase == phase
    (replica,) = status.replicas
    assert (replica.restarts, replica.message) == (restarts, reason)
    markers = [line for line in backend.logs(ref, "worker", 0) if line.startswith("--- attempt ")]
    assert len(markers) == restarts + 1
    if phase == Phase.FAILED:
        assert status.message == f"worker-0 failed: {reason}; last output: attempt {restarts + 1}: boom"
        assert replica.exit_code == int(codes[-1])


def test_long_lines_before_the_last_do_not_crowd_it_out_of_the_failure_message(backend):
    ref = new_ref()
    noisy = """
        import sys
        for n in range(4):
            print(f"traceback line {n} " + "x" * 200)
        print("the reason: loss is nan")
        sys.exit(3)
    """
    backend.submit(ref, workload(group("worker", noisy)), FLAVORS, NO_WIRING)

    status = wait_phase(backend, ref, Phase.FAILED)

    assert status.message.endswith("the reason: loss is nan")
    assert len(status.message) <= 500  # what the workload's reason holds
    assert "traceback line 3" in status.message  # as many earlier lines as fit


def test_max_run_time_kills_a_sleeper_and_says_why(backend):
    ref = new_ref()
    backend.submit(ref, workload(group("worker", SLEEP), max_run_seconds=1), FLAVORS, NO_WIRING)

    status = wait_phase(backend, ref, Phase.FAILED)

    (replica,) = status.replicas
    assert replica.message == "ran longer than 1 s"
    assert replica.exit_code is None
    assert status.message == "worker-0 failed: ran longer than 1 s; last output: sleeping"
    pid = int((backend.run_dir(ref) / "worker-0" / "pid").read_text())
    assert not process_alive(pid)


# --- stopping ----------------------------------------------------------------------------------


def test_cancel_kills_the_whole_process_group_even_when_it_ignores_sigterm(backend):
    # Given a replica and its grandchild, both deaf to SIGTERM
    code = """
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    grandchild = subprocess.Popen([sys.executable, "-c", deaf])
    with open("pids.tmp", "w") as out:
        out.write(f"{os.getpid()} {grandchild.pid}")
    os.rename("pids.tmp", "pids")
    time.sleep(60)
    """
    ref = new_ref()
    backend.submit(ref, workload(group("worker", code)), FLAVORS, NO_WIRING)
    pids_file = backend.run_dir(ref) / "worker-0" / "pids"
    wait_for(pids_file.exists, "the pids")
    pids = [int(pid) for pid in pids_file.read_text().split()]

    # When it is cancelled
    backend.cancel(ref)

    # Then both are gone (SIGKILL is delivered at once, the exit follows it), the run says
    # cancelled and its logs stay
    wait_for(lambda: not any(process_alive(pid) for pid in pids), "the killed processes to exit", 2)
    status = status_of(backend, ref)
    assert (status.phase, status.message) == (Phase.MISSING, "cancelled")
    assert [(r.phase, r.message) for r in status.replicas] == [(Phase.FAILED, "cancelled")]
    assert next(backend.logs(ref, "worker", 0)).startswith("--- attempt 1 started")
    # ... and cancelling again, or something never seen, is done
    backend.cancel(ref)
    backend.cancel(new_ref())


def test_status_survives_a_new_backend_and_a_killed_launcher_is_reported(backend):
    ref = new_ref()
    backend.submit(ref, workload(group("worker", SLEEP)), FLAVORS, NO_WIRING)
    wait_phase(backend, ref, Phase.RUNNING)
    replica_dir = backend.run_dir(ref) / "worker-0"

    # A worker restart: a new backend on the same root sees the same run
    restarted = LocalBackend(backend.root, grace_seconds=0.5)
    assert status_of(restarted, ref).phase == Phase.RUNNING

    os.kill(int((replica_dir / "launcher.pid").read_text()), signal.SIGKILL)

    status = wait_phase(restarted, ref, Phase.FAILED)
    assert status.replicas[0].message == "the launcher died"
    assert status.message.startswith("worker-0 failed: the launcher died")
    # The orphaned child goes with a cancel.
    child = int((replica_dir / "pid").read_text())
    assert process_alive(child)
    restarted.cancel(ref)
    assert not process_alive(child)


def test_submitting_twice_starts_nothing_new(backend):
    ref = new_ref()
    spec = workload(group("worker", SLEEP))
    backend.submit(ref, spec, FLAVORS, NO_WIRING)
    launcher_pid = backend.run_dir(ref) / "worker-0" / "launcher.pid"
    first = launcher_pid.read_text()

    backend.submit(ref, spec, FLAVORS, NO_WIRING)
    wait_phase(backend, ref, Phase.RUNNING)
    backend.cancel(ref)
    backend.submit(ref, spec, FLAVORS, NO_WIRING)

    assert launcher_pid.read_text() == first
    assert status_of(backend, ref).phase == Phase.MISSING
    markers = [line for line in backend.logs(ref, "worker", 0) if line.startswith("--- attempt ")]
    assert len(markers) == 1


def test_collect_garbage_removes_what_is_not_kept(backend):
    kept, dropped = new_ref(), new_ref()
    backend.submit(kept, workload(group("worker", "print('done')")), FLAVORS, NO_WIRING)
    backend.submit(dropped, workload(group("worker", SLEEP)), FLAVORS, NO_WIRING)
    wait_phase(backend, dropped, Phase.RUNNING)
    child = int((backend.run_dir(dropped) / "worker-0" / "pid").read_text())

    gone = backend.collect_garbage({kept.id})

    assert gone == [f"team-a/{dropped.key}"]
    assert not backend.run_dir(dropped).exists()
    assert not process_alive(child)
    assert status_of(backend, dropped).phase == Phase.MISSING
    assert wait_phase(backend, kept, Phase.SUCCEEDED)


# --- logs, endpoints, services -----------------------------------------------------------------


def test_logs_tail_and_follow(backend):
    code = """
    import time
    for i in range(1, 4):
        print(f"line {i}")
    time.sleep(0.3)
    print("line 4")
    print("no newline", end="")
    """
    ref = new_ref()
    backend.submit(ref, workload(group("worker", code)), FLAVORS, NO_WIRING)
    followed: list[str] = []
    follower = threading.Thread(target=lambda: followed.extend(backend.logs(ref, "worker", 0, follow=True)))

    follower.start()
    follower.join(timeout=10)

    assert not follower.is_alive()
    assert followed[0].startswith("--- attempt 1 started")
    assert followed[1:] == ["line 1", "line 2", "line 3", "line 4", "no newline"]
    assert list(backend.logs(ref, "worker", 0, tail=2)) == ["line 4", "no newline"]
    assert list(backend.logs(ref, "worker", 0)) == followed
    assert list(backend.logs(ref, "worker", 0, tail=0)) == []
    assert list(backend.logs(ref, "worker", 7)) == []


def test_a_service_is_running_once_ready_and_reachable_at_its_endpoint(backend):
    server = ReplicaGroup(
        role="server",
        count=1,
        image="ignored-here",
        command=(sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "$(MLPLATFORM_PORT)"),
        ports=(8080,),
        readiness_path="/",
    )
    ref = new_ref("predictor")
    backend.submit(ref, workload(server, name="predictor", kind=WorkloadKind.SERVICE), FLAVORS, NO_WIRING)

    wait_phase(backend, ref, Phase.RUNNING)

    url = backend.endpoint(ref, "server", 8080).url
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    assert backend.endpoint(ref, "server", 9090) is None
    assert backend.endpoint(ref, "nobody", 8080) is None
    assert backend.endpoint(new_ref(), "server", 8080) is None


def test_a_service_that_exits_is_restarted_not_failed(backend):
    ref = new_ref("predictor")
    spec = workload(group("server", "raise SystemExit(1)"), name="predictor", kind=WorkloadKind.SERVICE)
    backend.submit(ref, spec, FLAVORS, NO_WIRING)

    status = wait_for(lambda: (s := status_of(backend, ref)).replicas[0].restarts >= 2 and s, "restarts")

    assert status.phase in (Phase.PENDING, Phase.RUNNING)


# --- secrets, volumes, GPUs --------------------------------------------------------------------


def test_secrets_stay_in_the_private_folder(backend, tmp_path):
    wiring = Wiring(
        secret_env={"AWS_SECRET_ACCESS_KEY": SECRET}, files={"gcs.json": json.dumps({"k": SECRET})}
    )
    out = tmp_path / "env.json"
    ref = new_ref()
    backend.submit(ref, workload(group("worker", DUMP_ENV, args=(str(out),))), FLAVORS, wiring)

    assert wait_phase(backend, ref, Phase.SUCCEEDED, Phase.FAILED).phase == Phase.SUCCEEDED
    assert read_json_file(out)["env"]["AWS_SECRET_ACCESS_KEY"] == SECRET
    run_dir = backend.run_dir(ref)
    private = run_dir / "private"
    outside = [p for p in run_dir.rglob("*") if p.is_file() and not p.is_relative_to(private)]
    assert run_dir / "workload.json" in outside
    assert not [p for p in outside if SECRET.encode() in p.read_bytes()]
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE((private / "files").stat().st_mode) == 0o700
    assert stat.S_IMODE((private / "worker-0.env.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((private / "files" / "gcs.json").stat().st_mode) == 0o600


def test_a_persistent_volume_outlives_its_workload(backend):
    volumes = (
        Volume(name="home", mount_path="/home/jovyan", size_gib=10, persistent=True),
        Volume(name="tmp", mount_path="/tmp/scratch"),
    )
    write = """
    import os, pathlib
    pathlib.Path("notes.txt").write_text("kept")
    assert os.environ["NOTES"] == os.path.join(os.getcwd(), "notes.txt")
    assert os.environ["MLPLATFORM_VOLUME_HOME"] == os.getcwd()
    pathlib.Path(os.environ["MLPLATFORM_VOLUME_TMP"], "scratch.txt").write_text("gone")
    """
    read = "import pathlib; assert pathlib.Path('notes.txt').read_text() == 'kept'"
    env = {"NOTES": "/home/jovyan/notes.txt"}
    first, second = new_ref("nb"), new_ref("nb")

    backend.submit(
        first, workload(group("main", write, env=env, volumes=volumes), name="nb"), FLAVORS, NO_WIRING
    )
    assert wait_phase(backend, first, Phase.SUCCEEDED, Phase.FAILED).phase == Phase.SUCCEEDED
    backend.submit(second, workload(group("main", read, volumes=volumes), name="nb"), FLAVORS, NO_WIRING)
    assert wait_phase(backend, second, Phase.SUCCEEDED, Phase.FAILED).phase == Phase.SUCCEEDED

    home = backend.root / "volumes" / "team-a" / "nb" / "home"
    assert (home / "notes.txt").read_text() == "kept"
    assert (backend.run_dir(first) / "main-0" / "volumes" / "tmp" / "scratch.txt").exists()
    backend.delete_volumes("team-a", "nb")
    assert not home.exists()


def test_gpus_are_handed_out_one_replica_each(tmp_path):
    backend = LocalBackend(tmp_path / "local", gpus=[0, 1], grace_seconds=0.5)
    one_gpu = Resources(flavor="a100", gpus=1)
    code = DUMP_ENV + "\nimport time; time.sleep(60)"
    try:
        first = new_ref()
        args = (str(tmp_path / "$(MLPLATFORM_REPLICA_INDEX).json"),)
        backend.submit(
            first, workload(group("worker", code, count=2, args=args, resources=one_gpu)), FLAVORS, NO_WIRING
        )
        devices = {read_json_file(tmp_path / f"{i}.json")["env"]["CUDA_VISIBLE_DEVICES"] for i in (0, 1)}
        assert devices == {"0", "1"}

        # A third replica waits (the caller retries), more than the machine has never fits
        third = new_ref()
        with pytest.raises(BackendError) as busy:
            backend.submit(third, workload(group("worker", SLEEP, resources=one_gpu)), FLAVORS, NO_WIRING)
        assert busy.value.temporary
        too_big = workload(group("worker", SLEEP, resources=Resources(flavor="a100", gpus=3)))
        with pytest.raises(BackendError) as never:
            backend.submit(new_ref(), too_big, FLAVORS, NO_WIRING)
        assert not never.value.temporary

        # Once the first ends, the third gets a GPU
        backend.cancel(first)
        backend.submit(third, workload(group("worker", SLEEP, resources=one_gpu)), FLAVORS, NO_WIRING)
        assert wait_phase(backend, third, Phase.RUNNING)
    finally:
        backend.collect_garbage(set())


def test_gpu_inventory_from_the_setting_or_nvidia_smi(tmp_path, monkeypatch, settings):
    assert detect_gpus(2) == ("0", "1")
    assert detect_gpus("3") == ("0", "1", "2")
    assert detect_gpus("1,3") == ("1", "3")
    assert detect_gpus([2, "5"]) == ("2", "5")

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    nvidia_smi_gpus.cache_clear()
    try:
        assert detect_gpus() == ("0", "1")
        monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
        nvidia_smi_gpus.cache_clear()
        assert detect_gpus() == ()
    finally:
        nvidia_smi_gpus.cache_clear()

    settings.DATA_DIR = tmp_path
    settings.LOCAL_GPUS = "0,1"
    backend = LocalBackend.from_settings()
    assert backend.root == tmp_path / "local"
    assert backend.ledger.inventory == ("0", "1")


def test_specs_the_local_backend_cannot_run_fail_permanently(backend):
    no_command = ReplicaGroup(role="worker", count=1, image="trainer:1")
    from_secret = group("worker", SLEEP, secret_env=(SecretRef(env="TOKEN", secret="hf", key="token"),))

    for spec in (workload(no_command), workload(from_secret)):
        with pytest.raises(BackendError) as error:
            backend.submit(new_ref(), spec, FLAVORS, NO_WIRING)
        assert not error.value.temporary
    assert not (backend.root / "runs").exists()
