"""A GPU notebook on the Kubernetes backend, driven against the Kubernetes API test server (the test
plays the StatefulSet controller and the kubelet): nothing in the cluster while it waits for quota;
after admission a StatefulSet, a Service and the home PVC; ACTIVE once its pod is ready; stopping
removes the pods' objects and keeps the home; deleting removes the home."""

from __future__ import annotations

import json

import pytest

from mlplatform.compute import backends
from mlplatform.compute.backends.base import LABEL_PROJECT, LABEL_WORKLOAD
from mlplatform.compute.services import admission_pass, workload_start, workload_stop, workloads_sync
from mlplatform.storage.services import storage_connection_create
from notebooks_app.services import notebook_create, notebook_delete, notebook_finish_delete, notebook_stop
from tests.factories import quota
from tests.kube import kubeconfig


@pytest.fixture
def cluster(kube, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", kube.url)))
    settings.COMPUTE_BACKEND = "kubernetes"
    backends.get_backend.cache_clear()
    yield kube
    backends.get_backend.cache_clear()


def ours(kube, kind: str, workload_id: str) -> list[dict]:
    return [
        obj
        for obj in kube.objects(kind)
        if (obj["metadata"].get("labels") or {}).get(LABEL_WORKLOAD) == workload_id
    ]


def test_a_gpu_notebook_runs_as_a_statefulset_and_keeps_its_home_across_stop(cluster, project, member):
    quota(project, "nvidia-tesla-t4", nominal_gpus=1, nominal_cpu=16, nominal_memory_gib=64)
    owner = member()
    first = notebook_create(project=project, owner=owner, name="first", flavor="nvidia-tesla-t4", gpus=1)
    second = notebook_create(project=project, owner=owner, name="second", flavor="nvidia-tesla-t4", gpus=1)
    admission_pass()
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.state == "QUEUED"
    assert ours(cluster, "StatefulSet", second.workload.id.hex) == []

    workload_start(workload_id=first.workload.id)
    sets = ours(cluster, "StatefulSet", first.workload.id.hex)
    assert len(sets) == 1
    pod = sets[0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["securityContext"]["fsGroup"] == 100
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "Tesla-T4"}
    assert ours(cluster, "Service", first.workload.id.hex)
    homes = [
        c for c in cluster.objects("PersistentVolumeClaim") if c["metadata"]["name"].startswith("first-")
    ]
    assert len(homes) == 1

    cluster.kubelet.start_statefulset(project.slug, sets[0]["metadata"]["name"])
    workloads_sync()
    first.refresh_from_db()
    assert first.state == "ACTIVE"

    notebook_stop(notebook=first)
    workload_stop(workload_id=first.workload.id)
    assert ours(cluster, "StatefulSet", first.workload.id.hex) == []
    assert [c["metadata"]["name"] for c in cluster.objects("PersistentVolumeClaim")] == [
        homes[0]["metadata"]["name"]
    ]
    admission_pass()  # the GPU is free again: the second notebook goes ahead
    second.refresh_from_db()
    assert second.workload.state == "ADMITTED"

    first.refresh_from_db()
    notebook_delete(notebook=first, confirm=True)
    notebook_finish_delete(notebook_id=first.id)
    assert [
        c
        for c in cluster.objects("PersistentVolumeClaim")
        if (c["metadata"].get("labels") or {}).get(LABEL_PROJECT) == project.slug
        and c["metadata"]["name"].startswith("first-")
    ] == []


def test_only_the_chosen_storage_connections_reach_the_notebook_and_only_through_a_secret(
    cluster, project, member
):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    for name, key in (("lake", "AKIALAKE"), ("archive", "AKIAARCHIVE")):
        storage_connection_create(
            project=project,
            name=name,
            kind="s3",
            buckets=[name],
            endpoint_url="http://minio.example:9000",
            credentials={"access_key_id": key, "secret_access_key": f"{name}-secret"},
        )
    owner = member()
    chosen = notebook_create(project=project, owner=owner, name="chosen", storage_connections=["archive"])
    bare = notebook_create(project=project, owner=owner, name="bare", storage_connections=[])
    admission_pass()

    for notebook in (chosen, bare):
        notebook.refresh_from_db()
        workload_start(workload_id=notebook.workload.id)

    secrets = ours(cluster, "Secret", chosen.workload.id.hex)
    assert len(secrets) == 1
    stored = json.dumps(secrets[0])
    assert "archive-secret" in stored
    assert "lake-secret" not in stored
    statefulset = json.dumps(ours(cluster, "StatefulSet", chosen.workload.id.hex))
    assert "archive-secret" not in statefulset
    assert "AKIAARCHIVE" not in statefulset
    assert '"secretKeyRef"' in statefulset
    assert ours(cluster, "Secret", bare.workload.id.hex) == []
    assert "AWS_" not in json.dumps(ours(cluster, "StatefulSet", bare.workload.id.hex))
