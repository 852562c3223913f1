"""Under PostgreSQL, concurrent submissions and admission passes never admit more than a quota allows."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Sum

from mlplatform.compute import selectors, services
from mlplatform.compute.models import Workload, WorkloadRequest
from mlplatform.compute.spec import spec_from_dict
from tests.factories import ProjectFactory, quota

A100 = "nvidia-a100-80gb"
QUOTA = 10


def spec(i: int):
    return spec_from_dict(
        {
            "name": f"w{i}",
            "kind": "batch",
            "groups": [
                {
                    "role": "worker",
                    "count": 1 + i % 2,  # gangs of one and of two
                    "image": "python:3.11",
                    "resources": {"flavor": A100, "gpus": 1, "cpu": "1", "memory_gib": "1"},
                }
            ],
        }
    )


def admitted_gpus() -> int:
    held = WorkloadRequest.objects.filter(workload__state__in=Workload.HOLDING).aggregate(n=Sum("gpus"))
    return held["n"] or 0


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_submissions_never_exceed_a_10_gpu_quota(seeded_catalog):
    assert connection.vendor == "postgresql"
    project = ProjectFactory(slug="busy")
    quota(project, A100, nominal_gpus=QUOTA, nominal_cpu=1000, nominal_memory_gib=1000)
    done = threading.Event()
    seen: list[int] = []

    def watch() -> None:  # every moment, from its own connection
        try:
            while not done.is_set():
                seen.append(admitted_gpus())
        finally:
            connections.close_all()

    def submit_and_admit(i: int) -> None:
        try:
            services.workload_submit(project=project, spec=spec(i))
            services.admission_pass()  # what the on_commit task does, here in the same thread
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(submit_and_admit, range(200)))
    done.set()
    watcher.join()

    states = dict(Workload.objects.values_list("state").annotate(n=Sum(1)).values_list("state", "n"))
    assert sum(states.values()) == 200
    assert set(states) == {"ADMITTED", "QUEUED"}
    assert len(seen) > 10  # the watcher really watched
    assert max(seen) <= QUOTA
    assert admitted_gpus() == QUOTA  # demand exceeds supply, and gangs of one fill the last GPU
    pending = selectors.queue(project=project)["pending"]
    assert [w.queue_position for w in pending] == list(range(1, len(pending) + 1))
