"""A GPU notebook on the Kubernetes backend, driven against the Kubernetes API test server (the test
plays the StatefulSet controller and the kubelet): nothing in the cluster while it waits for quota;
after admission a StatefulSet, a Service and the home PVC; ACTIVE once its pod is ready; stopping
removes the pods' objects and keeps the home; deleting removes the home. A console outside the
cluster reaches the notebook's real JupyterLab through the API server's service proxy."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from mlplatform.compute.backends import get_backend
from mlplatform.compute.backends.base import LABEL_PROJECT, LABEL_WORKLOAD
from mlplatform.compute.backends.kubernetes import manifests
from mlplatform.compute.services import admission_pass, workload_start, workload_stop, workloads_sync
from mlplatform.storage.services import storage_connection_create
from notebooks_app.models import Notebook
from notebooks_app.services import notebook_create, notebook_delete, notebook_finish_delete, notebook_stop
from notebooks_app.specs import PORT
from tests.factories import quota
from tests.notebooks.jupyter import execute, start_jupyterlab


def ours(kube, kind: str, workload_id: str) -> list[dict]:
    return [
        obj
        for obj in kube.objects(kind)
        if (obj["metadata"].get("labels") or {}).get(LABEL_WORKLOAD) == workload_id
    ]


def started(kube, project, owner) -> tuple[Notebook, dict]:
    """Notebook `lab` of a CPU flavor, admitted and submitted: it and its StatefulSet, no pod yet."""
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    notebook = notebook_create(project=project, owner=owner, name="lab")
    admission_pass()
    notebook.refresh_from_db()
    workload_start(workload_id=notebook.workload.id)
    [statefulset] = ours(kube, "StatefulSet", notebook.workload.id.hex)
    return notebook, statefulset


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

    notebook_stop(notebook=first, actor=None)
    workload_stop(workload_id=first.workload.id)
    assert ours(cluster, "StatefulSet", first.workload.id.hex) == []
    assert [c["metadata"]["name"] for c in cluster.objects("PersistentVolumeClaim")] == [
        homes[0]["metadata"]["name"]
    ]
    admission_pass()  # the GPU is free again: the second notebook goes ahead
    second.refresh_from_db()
    assert second.workload.state == "ADMITTED"

    first.refresh_from_db()
    notebook_delete(notebook=first, actor=None, confirm=True)
    notebook_finish_delete(notebook_id=first.id)
    assert [
        c
        for c in cluster.objects("PersistentVolumeClaim")
        if (c["metadata"].get("labels") or {}).get(LABEL_PROJECT) == project.slug
        and c["metadata"]["name"].startswith("first-")
    ] == []


def test_a_running_notebooks_page_follows_its_pods_log_with_the_time_of_each_line(
    cluster, project, member, client
):
    # Given a notebook whose pod is ready and has written a line
    _, statefulset = started(cluster, project, owner := member())
    [pod] = cluster.kubelet.start_statefulset(project.slug, statefulset["metadata"]["name"])
    workloads_sync()
    cluster.set_logs(project.slug, pod["metadata"]["name"], "[I ServerApp] Jupyter Server is running\n")
    client.force_login(owner)

    # When its owner opens its page, and turns timestamps on
    page = client.get("/projects/team-a/notebooks/lab/").content.decode()
    timed = client.get("/projects/team-a/notebooks/lab/?fragment=logs&timestamps=1").content.decode()

    # Then the page follows the pod's log, and each line can say when the kubelet got it
    assert ">ACTIVE<" in page
    assert "[I ServerApp] Jupyter Server is running" in page
    assert 'hx-trigger="every 2s"' in timed
    assert "timestamps are not recorded" not in page
    at, text = re.search(r'data-testid="log">(.*)\n', timed)[1].split(" ", 1)
    assert text == "[I ServerApp] Jupyter Server is running"
    assert abs(datetime.fromisoformat(at) - datetime.now(UTC)) < timedelta(minutes=1)


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


# --- from outside the cluster: through the API server's service proxy ---------------------------


@pytest.fixture
def jupyter_in_the_pod(tmp_path):
    """start(notebook) runs the notebook's JupyterLab (this machine's, with its base URL and token
    digest) where the test server's Service proxy sends its traffic: the pod, played here."""
    processes = []

    def start(notebook: Notebook) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        processes.append(
            start_jupyterlab(
                project=notebook.project.slug,
                name=notebook.name,
                secret=notebook.secret,
                port=port,
                home=tmp_path,
            )
        )
        return f"127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_from_outside_the_cluster_jupyterlab_works_through_the_api_servers_service_proxy(
    cluster, seeded_catalog, images, project, member, token_for, console_url, jupyter_in_the_pod
):
    notebook, statefulset = started(cluster, project, owner := member())
    ref = notebook.workload.ref
    cluster.kubelet.start_statefulset(project.slug, statefulset["metadata"]["name"])
    cluster.service_backend(project.slug, manifests.service_name(ref), PORT, jupyter_in_the_pod(notebook))
    deadline = time.monotonic() + 30
    while notebook.state != "ACTIVE":  # beat's status sync, until the informers saw the pod ready
        assert time.monotonic() < deadline, notebook.state
        workloads_sync()
        notebook.refresh_from_db()

    endpoint = get_backend().endpoint(ref, "notebook", PORT)
    assert endpoint.via_api_server
    assert endpoint.url.startswith(f"{cluster.url}/api/v1/namespaces/team-a/services/")
    base = f"{console_url}/notebooks/team-a/lab"
    auth = {"Authorization": f"Bearer {token_for(owner)}"}
    http = requests.Session()
    http.headers.update(auth)
    deadline = time.monotonic() + 60
    while http.get(f"{base}/api/status", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "JupyterLab did not answer through the API server"
        time.sleep(0.2)

    page = http.get(f"{base}/lab", headers={"Accept": "text/html"}, timeout=30)
    root = http.get(f"{base}/", allow_redirects=False, timeout=30)
    saved = http.put(
        f"{base}/api/contents/notes.txt",
        json={"type": "file", "format": "text", "content": "kept"},
        timeout=30,
    )
    read = http.get(f"{base}/api/contents/notes.txt", timeout=30).json()
    kernel = http.post(f"{base}/api/kernels", json={"name": "python3"}, timeout=60).json()["id"]

    assert page.status_code == 200
    assert 'src="/notebooks/team-a/lab/static/' in page.text  # the API server's prefix is gone again
    assert "/api/v1/namespaces" not in page.text
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page.text, re.S)[1])
    assert config["news"] == {"disabled": True}
    assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]  # no news toast
    assert root.headers["Location"].startswith("/notebooks/team-a/lab/")
    assert saved.status_code == 201
    assert read["content"] == "kept"
    assert execute(f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels", auth, "1+1") == "2"
    assert cluster.requests.count("proxy") > 0
    assert notebook.secret not in page.text
