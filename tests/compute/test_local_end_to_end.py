"""End to end on the embedded default's path: the API queues, a real Celery worker admits and
starts, the local backend runs real processes, status and logs come back to the API."""

from __future__ import annotations

import sys
import time

import pytest

from mlplatform.compute.models import Workload
from mlplatform.compute.tasks import sync_workloads
from mlplatform.core.models import Role
from tests.factories import quota

pytestmark = pytest.mark.xdist_group("real-worker")


def job(name: str, code: str, *, cpu: str = "1", count: int = 1, **policy) -> dict:
    return {
        "spec": {
            "name": name,
            "kind": "batch",
            "groups": [
                {
                    "role": "worker",
                    "count": count,
                    "image": "python:3.11",
                    "command": [sys.executable, "-c", code],
                    "resources": {"flavor": "cpu", "cpu": cpu, "memory_gib": "1"},
                }
            ],
            "failure_policy": policy,
        }
    }


def wait_for(client, url: str, states: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sync_workloads.delay()  # beat's job in production
        body = client.get(url).json()
        if body["state"] in states:
            return body
        time.sleep(0.3)
    raise AssertionError(f"still {body['state']} ({body['reason']}) after {timeout} s")


def test_a_queued_workload_is_admitted_when_quota_frees_runs_and_shows_its_logs(
    api, project, member, local_compute, celery_worker
):
    quota(project, "cpu", nominal_cpu=2, nominal_memory_gib=8)
    client = api(member(Role.EDITOR))
    base = "/api/projects/team-a/workloads/"

    # a long one takes the whole quota; the second waits, with its reason
    holder = client.post(
        base,
        job("holder", "import time; print('holding', flush=True); time.sleep(60)", cpu="2"),
        format="json",
    ).json()
    wait_for(client, f"{base}{holder['id']}/", {"RUNNING"})
    second = client.post(
        base,
        job("second", "import os; print('hello from', os.environ['MLPLATFORM_REPLICA_ROLE'])"),
        format="json",
    ).json()
    time.sleep(1)  # let the admission pass run
    queued = client.get(f"{base}{second['id']}/").json()
    assert queued["state"] == "QUEUED"
    assert queued["queue_position"] == 1
    assert "team-a uses 2 of 2 vCPUs" in queued["reason"]
    logs = client.get(f"{base}{holder['id']}/logs/?tail=5")
    assert "holding" in b"".join(logs.streaming_content).decode()

    # cancelling the holder frees the quota: the second is admitted, runs and succeeds
    assert client.post(f"{base}{holder['id']}/cancel/").json()["state"] == "CANCELLING"
    assert wait_for(client, f"{base}{holder['id']}/", {"CANCELLED"})["state"] == "CANCELLED"
    done = wait_for(client, f"{base}{second['id']}/", {"SUCCEEDED", "FAILED"})

    assert done["state"] == "SUCCEEDED", done["reason"]
    states = [event["state"] for event in done["events"]]
    # RUNNING may be skipped when the replica ends between two status passes
    assert [state for state in states if state != "RUNNING"] == [
        "QUEUED",
        "ADMITTED",
        "STARTING",
        "SUCCEEDED",
    ]
    logs = client.get(f"{base}{second['id']}/logs/")
    assert "hello from worker" in b"".join(logs.streaming_content).decode()
    assert Workload.objects.get(id=holder["id"]).finished_at is not None


def test_a_failing_replica_fails_the_workload_with_its_exit_code_and_last_lines(
    api, project, member, local_compute, celery_worker
):
    quota(project, "cpu", nominal_cpu=4, nominal_memory_gib=8)
    client = api(member(Role.EDITOR))
    code = "import sys; print('loading data', flush=True); print('bad shape', flush=True); sys.exit(3)"
    created = client.post(
        "/api/projects/team-a/workloads/",
        job("broken", code, backoff_limit=2, rules=[{"action": "FailJob", "exit_codes": [3]}]),
        format="json",
    ).json()

    done = wait_for(client, f"/api/projects/team-a/workloads/{created['id']}/", {"SUCCEEDED", "FAILED"})

    assert done["state"] == "FAILED"
    assert "worker-0" in done["reason"]
    assert "exit code 3" in done["reason"]
    assert "bad shape" in done["reason"]
    assert done["replicas"][0]["exit_code"] == 3
