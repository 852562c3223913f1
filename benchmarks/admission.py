"""Benchmark: admission of 10,000 queued workloads in 30 projects and 5 cohorts, on PostgreSQL.

    python -m benchmarks.admission          (DATABASE_URL, else a throwaway embedded PostgreSQL)

Builds the queue in a scratch database, then drains it: each pass admits what fits and gives every
other workload its position and reason; between passes the admitted workloads finish, as they
would on a cluster. Prints one JSON object: decisions per second (a decision is one workload
admitted, or told its position and reason, or failed), database queries per pass, and the number
of cluster objects that exist for queued workloads (must be 0: nothing is created before admission).
The first pass's admitted workloads are really started on the Kubernetes API test server of
tests/kube/ (through the Kubernetes backend, as the start task does), and every object there is
counted by its workload label against the queue.

For scale: Kueue's own performance test admits 15,000 workloads over 30 ClusterQueues at about 43
workloads per second end to end; `admissions_per_second_vs_kueue` is our drain rate over that.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from decimal import Decimal

KUEUE_ADMISSIONS_PER_SECOND = 43.0
WORKLOADS, PROJECTS, COHORTS = 10_000, 30, 5
FLAVORS = ("nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-tesla-t4")
GANGS = (1, 1, 1, 2, 2, 4, 8)  # replicas per workload


def main() -> None:
    sys.path.insert(0, os.getcwd())
    import tests.engines  # noqa: F401 - DATABASE_URL, else an embedded PostgreSQL

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        print(json.dumps(run(), indent=2))
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)


def run() -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from mlplatform.celery import app
    from mlplatform.compute import services
    from mlplatform.compute.models import Workload
    from tests.kube import KubeApiServer

    app.conf.task_default_queue = "benchmark-admission"  # the start messages go nowhere real
    build_queue()
    passes, pass_seconds, queries, decisions, admitted = 0, 0.0, [], 0, 0
    first_pass, cluster = None, {}
    while Workload.objects.filter(state=Workload.State.QUEUED).exists() and passes < 2000:
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            result = services.admission_pass()
            took = time.perf_counter() - started
        passes += 1
        pass_seconds += took
        queries.append(len(ctx.captured_queries))
        decided = len(result.admitted) + result.pending + len(result.failed)
        decisions += decided
        admitted += len(result.admitted)
        if first_pass is None:
            first_pass = {"seconds": round(took, 3), "decisions": decided, "admitted": len(result.admitted)}
            with KubeApiServer() as kube:
                cluster = start_on_cluster(kube, result.admitted)
        # what was admitted runs and finishes before the next pass
        Workload.objects.filter(state=Workload.State.ADMITTED).update(
            state=Workload.State.SUCCEEDED, finished_at=timezone.now()
        )
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("benchmark-admission")
    return {
        "benchmark": "admission",
        "database": connection.vendor,
        "workloads": WORKLOADS,
        "projects": PROJECTS,
        "cohorts": COHORTS,
        "passes": passes,
        "first_pass": first_pass,
        "admitted": admitted,
        "never_admissible": WORKLOADS - admitted,
        "decisions_per_second": round(decisions / pass_seconds),
        "admissions_per_second": round(admitted / pass_seconds),
        "kueue_admissions_per_second": KUEUE_ADMISSIONS_PER_SECOND,
        "decisions_per_second_vs_kueue": round(decisions / pass_seconds / KUEUE_ADMISSIONS_PER_SECOND, 1),
        "admissions_per_second_vs_kueue": round(admitted / pass_seconds / KUEUE_ADMISSIONS_PER_SECOND, 1),
        "queries_per_pass_max": max(queries),
        "queries_per_pass_min": min(queries),
        **cluster,
    }


def start_on_cluster(kube, admitted_ids) -> dict:
    """Start the admitted workloads through the Kubernetes backend on the test server, then count
    the objects there per workload label: those of queued workloads must be none."""
    from mlplatform.compute.backends.base import LABEL_WORKLOAD, Wiring
    from mlplatform.compute.backends.kubernetes.backend import KubernetesBackend
    from mlplatform.compute.backends.kubernetes.client import KubeClient
    from mlplatform.compute.models import Workload
    from mlplatform.compute.services import workload_flavors
    from mlplatform.compute.spec import spec_from_dict

    backend = KubernetesBackend(KubeClient(kube.api_client))
    for workload in Workload.objects.filter(id__in=admitted_ids).select_related("project"):
        backend.submit(workload.ref, spec_from_dict(workload.spec), workload_flavors(workload), Wiring())
    queued = {
        pk.hex for pk in Workload.objects.filter(state=Workload.State.QUEUED).values_list("id", flat=True)
    }
    labelled = [
        obj["metadata"]["labels"][LABEL_WORKLOAD]
        for kind in ("ConfigMap", "Secret", "Service", "Job", "Pod", "StatefulSet", "Deployment")
        for obj in kube.objects(kind)
        if LABEL_WORKLOAD in (obj["metadata"].get("labels") or {})
    ]
    return {
        "cluster_objects_for_admitted_workloads": sum(1 for owner in labelled if owner not in queued),
        "cluster_objects_for_queued_workloads": sum(1 for owner in labelled if owner in queued),
        "queued_after_first_pass": len(queued),
    }


def build_queue() -> None:
    """30 projects in 5 cohorts with GPU quotas on three flavors; 10,000 workloads of mixed gangs,
    priorities and ages, written in bulk (the submit path is measured by the tests, not here)."""
    from django.contrib.auth import get_user_model

    from mlplatform.compute.models import Workload, WorkloadRequest
    from mlplatform.compute.spec import spec_from_dict, spec_to_dict
    from mlplatform.core.models import Project
    from mlplatform.quotas.catalog import seed_catalog
    from mlplatform.quotas.models import AcceleratorType, Cohort, Flavor, MachineType, ProjectQuota

    if not Flavor.objects.exists():
        seed_catalog(Flavor, AcceleratorType, MachineType)
    rng = random.Random(7)
    owner = get_user_model().objects.create(username="bench")
    cohorts = [Cohort.objects.create(name=f"cohort-{i}") for i in range(COHORTS)]
    flavors = {f.name: f for f in Flavor.objects.filter(name__in=FLAVORS)}
    projects = [Project.objects.create(slug=f"project-{i:02d}") for i in range(PROJECTS)]
    ProjectQuota.objects.bulk_create(
        ProjectQuota(
            project=project,
            flavor=flavors[name],
            cohort=cohorts[i % COHORTS],
            nominal_gpus=rng.choice((8, 16, 32)),
            nominal_cpu=Decimal(1024),
            nominal_memory_gib=Decimal(8192),
            gpu_borrowing_limit=rng.choice((None, 8, 16)),
        )
        for i, project in enumerate(projects)
        for name in FLAVORS
    )
    workloads, requests = [], []
    for i in range(WORKLOADS):
        project, flavor, gang = rng.choice(projects), rng.choice(FLAVORS), rng.choice(GANGS)
        gpus = rng.choice((1, 1, 2, 4))
        spec = spec_from_dict(
            {
                "name": f"w{i}",
                "kind": "batch",
                "groups": [
                    {
                        "role": "worker",
                        "count": gang,
                        "image": "python:3.11",
                        "resources": {"flavor": flavor, "gpus": gpus, "cpu": "4", "memory_gib": "16"},
                    }
                ],
            }
        )
        workload = Workload(
            project=project,
            kind="batch",
            name=spec.name,
            owner=owner,
            priority=rng.choice((0, 0, 0, 10)),
            spec=spec_to_dict(spec),
        )
        workloads.append(workload)
        total = spec.requests()[flavor]
        requests.append(
            WorkloadRequest(
                workload=workload,
                flavor=flavors[flavor],
                gpus=total.gpus,
                cpu=total.cpu,
                memory_gib=total.memory_gib,
            )
        )
    Workload.objects.bulk_create(workloads, batch_size=2000)
    WorkloadRequest.objects.bulk_create(requests, batch_size=2000)


if __name__ == "__main__":
    main()
