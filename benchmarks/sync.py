"""Benchmark: Kubernetes API requests per status sync for 1,000 running workloads.

    python -m benchmarks.sync

Submits 1,000 training workloads through the Kubernetes backend to the API test server of
tests/kube/ (no cluster, no database), starts their pods as the Job controller and kubelet
would, then runs a few sync intervals two ways: the backend's informers (after their initial
list, one watch request per kind and interval, whatever the number of workloads) against polling
(one GET per workload and interval, the least a poller can do). Between intervals some workloads
finish, so the informers have events to apply. Prints one JSON object; the ratio is polling
requests over informer requests. Seconds are measured on loopback, where a GET costs well under a
millisecond: an informer sync there is mostly its idle wait (a tenth of a second per kind), which
does not grow with the number of workloads; polling grows with it and with the network's latency.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

WORKLOADS = 1_000
INTERVALS = 5
FINISHING_PER_INTERVAL = 20
PROJECTS = 10


def main() -> None:
    sys.path.insert(0, os.getcwd())
    print(json.dumps(run(), indent=2))


def run() -> dict:
    from mlplatform.compute.backends.base import FlavorInfo, Wiring, WorkloadRef
    from mlplatform.compute.backends.kubernetes.backend import KubernetesBackend
    from mlplatform.compute.backends.kubernetes.client import KubeClient
    from mlplatform.compute.backends.kubernetes.informer import Informers
    from mlplatform.compute.backends.kubernetes.manifests import group_name
    from mlplatform.compute.spec import ReplicaGroup, WorkloadKind, WorkloadSpec
    from tests.kube import KubeApiServer

    with KubeApiServer() as kube:
        client = KubeClient(kube.api_client)
        backend = KubernetesBackend(client, informers=Informers(client))
        refs, jobs = [], []
        started = time.perf_counter()
        for i in range(WORKLOADS):
            ref = WorkloadRef(id=uuid.uuid4().hex, project=f"project-{i % PROJECTS}", name=f"train-{i}")
            spec = WorkloadSpec(
                name=ref.name,
                kind=WorkloadKind.BATCH,
                groups=(ReplicaGroup(role="worker", count=1, image="trainer:1"),),
            )
            backend.submit(ref, spec, {"cpu": FlavorInfo(name="cpu")}, Wiring())
            job = group_name(ref, WorkloadKind.BATCH, "worker")
            kube.kubelet.start_job(ref.project, job)
            refs.append(ref)
            jobs.append((ref.project, job))
        setup_seconds = time.perf_counter() - started

        kube.requests.clear()
        started = time.perf_counter()
        backend.statuses(refs)
        initial = {"requests": kube.requests.total, "seconds": round(time.perf_counter() - started, 3)}

        informer_requests, informer_seconds, polling_requests, polling_seconds = [], [], [], []
        finishing = iter(jobs)
        for _ in range(INTERVALS):
            for _, (namespace, job) in zip(range(FINISHING_PER_INTERVAL), finishing, strict=False):
                kube.kubelet.finish_job(namespace, job)

            kube.requests.clear()
            started = time.perf_counter()
            phases = backend.statuses(refs)
            informer_seconds.append(time.perf_counter() - started)
            informer_requests.append(kube.requests.total)
            assert len(phases) == WORKLOADS

            kube.requests.clear()
            started = time.perf_counter()
            for namespace, job in jobs:
                client.get("Job", namespace, job)
            polling_seconds.append(time.perf_counter() - started)
            polling_requests.append(kube.requests.total)

    per_interval_informer = sum(informer_requests) / INTERVALS
    per_interval_polling = sum(polling_requests) / INTERVALS
    return {
        "benchmark": "sync",
        "workloads": WORKLOADS,
        "intervals": INTERVALS,
        "requests_per_interval_informer": per_interval_informer,
        "requests_per_interval_polling": per_interval_polling,
        "ratio": round(per_interval_polling / per_interval_informer, 1),
        "seconds_per_interval_informer": round(sum(informer_seconds) / INTERVALS, 3),
        "seconds_per_interval_polling": round(sum(polling_seconds) / INTERVALS, 3),
        "initial_list": initial,
        "setup_seconds": round(setup_seconds, 1),
    }


if __name__ == "__main__":
    main()
