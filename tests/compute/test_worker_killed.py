"""A worker killed in the middle of starting a workload: the next passes converge, nothing twice,
nothing orphaned.

The "worker" is a real process (`manage.py shell` running the start service, as the start task
does) talking to the Kubernetes API test server through a kubeconfig, killed with SIGKILL while
its creates are in flight. Recovery runs through a real Celery worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone

from mlplatform.compute import backends, services
from mlplatform.compute.backends.base import LABEL_WORKLOAD
from mlplatform.compute.models import Workload
from mlplatform.compute.spec import spec_from_dict
from tests.conftest import running_celery_worker
from tests.factories import quota
from tests.kube import kubeconfig

pytestmark = pytest.mark.xdist_group("real-worker")
ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """DATABASE_URL, naming the test database that this test's rows are in."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path=f"/{connection.settings_dict['NAME']}"))


@pytest.fixture
def kube_compute(kube, settings, tmp_path, monkeypatch):
    """The console configured for the test server as for any cluster: KUBECONFIG."""
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", kube.url)))
    settings.COMPUTE_BACKEND = "kubernetes"
    backends.get_backend.cache_clear()
    yield os.environ["KUBECONFIG"]
    backends.get_backend.cache_clear()


@pytest.mark.django_db(transaction=True)
def test_a_start_killed_midway_converges_with_nothing_created_twice(kube, kube_compute, project, tmp_path):
    from mlplatform.quotas.catalog import seed_catalog
    from mlplatform.quotas.models import AcceleratorType, Flavor, MachineType

    if not Flavor.objects.exists():
        seed_catalog(Flavor, AcceleratorType, MachineType)
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    spec = {
        "name": "train",
        "kind": "batch",
        "groups": [
            {"role": "chief", "count": 1, "image": "trainer:1", "resources": {"flavor": "cpu"}},
            {"role": "worker", "count": 2, "image": "trainer:1", "resources": {"flavor": "cpu"}},
        ],
    }
    workload = services.workload_submit(project=project, spec=spec_from_dict(spec))
    services.admission_pass()
    assert Workload.objects.get(id=workload.id).state == "ADMITTED"

    # every create is carried out but answered only after 30 s: the worker hangs mid-submission
    kube.faults.set(timeout_rate=1.0, delay_seconds=30, verbs=frozenset({"create"}))
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "KUBECONFIG": kube_compute,
        "COMPUTE_BACKEND": "kubernetes",
    }
    code = (
        "import uuid; from mlplatform.compute.services import workload_start; "
        f"workload_start(workload_id=uuid.UUID('{workload.id}'))"
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while not kube.created and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kube.created, "the worker never reached the API server"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    kube.faults.set(timeout_rate=0.0)
    made_before_the_kill = sum(kube.created.values())

    # its transaction died with it: still ADMITTED, and one object or so exists
    assert Workload.objects.get(id=workload.id).state == "ADMITTED"
    assert made_before_the_kill >= 1

    # a restarted worker: the periodic sync finds it stuck and starts it again
    with running_celery_worker():
        services.workloads_sync(now=timezone.now() + timedelta(minutes=5))
        deadline = time.monotonic() + 30
        while Workload.objects.get(id=workload.id).state == "ADMITTED" and time.monotonic() < deadline:
            time.sleep(0.1)

    assert Workload.objects.get(id=workload.id).state == "STARTING"
    assert max(kube.created.values()) == 1  # nothing was created twice
    kinds = {}
    for kind in ("ConfigMap", "Service", "Job"):
        kinds[kind] = [
            obj["metadata"]["name"]
            for obj in kube.objects(kind, project.slug)
            if (obj["metadata"].get("labels") or {}).get(LABEL_WORKLOAD) == workload.id.hex
        ]
    assert len(kinds["ConfigMap"]) == 1
    assert len(kinds["Service"]) == 1
    key = f"train-{workload.id.hex[:8]}"
    assert sorted(kinds["Job"]) == [f"{key}-chief", f"{key}-worker"]
    # and nothing of ours on the server belongs to anything else
    assert not [
        obj
        for kind in ("ConfigMap", "Service", "Job", "Secret")
        for obj in kube.objects(kind)
        if (obj["metadata"].get("labels") or {}).get(LABEL_WORKLOAD) not in (None, workload.id.hex)
    ]
