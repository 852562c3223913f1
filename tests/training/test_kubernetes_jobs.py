"""A CUSTOM job with a master, workers, parameter servers and GPUs on the Kubernetes backend, driven
against the Kubernetes API test server: nothing exists in the cluster before admission, everything
after, and the objects validate against the real schemas."""

from __future__ import annotations

import kubernetes_validate
import pytest
from django.conf import settings as django_settings

from mlplatform.compute import backends
from mlplatform.compute.backends.base import LABEL_WORKLOAD
from mlplatform.compute.services import admission_pass, workload_start
from mlplatform.storage.services import storage_connection_create
from tests.factories import quota
from tests.kube import kubeconfig
from tests.packages import uploaded
from training_app.services import job_create

KINDS = ("ConfigMap", "Secret", "Service", "Job", "StatefulSet", "Deployment")


@pytest.fixture
def cluster(kube, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", kube.url)))
    settings.COMPUTE_BACKEND = "kubernetes"
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    backends.get_backend.cache_clear()
    yield kube
    backends.get_backend.cache_clear()


def objects_of(kube, workload_id: str) -> list[dict]:
    return [
        obj
        for kind in KINDS
        for obj in kube.objects(kind)
        if (obj["metadata"].get("labels") or {}).get(LABEL_WORKLOAD) == workload_id
    ]


def test_a_distributed_gpu_job_creates_nothing_before_admission_and_everything_after(cluster, project):
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    uploaded(django_settings.STORAGE_LOCAL_ROOT / "demo")  # the trainer packages its jobs name
    quota(project, "nvidia-a100-40gb", nominal_gpus=8, nominal_cpu=256, nominal_memory_gib=2048)
    quota(project, "cpu", nominal_cpu=64, nominal_memory_gib=256)
    gpus = {"acceleratorConfig": {"count": "2", "type": "NVIDIA_TESLA_A100"}}
    body = {
        "jobId": "big_train",
        "trainingInput": {
            "scaleTier": "CUSTOM",
            "masterType": "a2-highgpu-2g",
            "masterConfig": gpus,
            "workerType": "a2-highgpu-2g",
            "workerConfig": gpus,
            "workerCount": "2",
            "parameterServerType": "n1-highmem-8",
            "parameterServerCount": "2",
            "packageUris": ["gs://demo/packages/trainer-0.1.tar.gz"],
            "pythonModule": "trainer.task",
            "runtimeVersion": "2.11",
            "pythonVersion": "3.7",
        },
    }

    job = job_create(project=project, body=body)
    assert objects_of(cluster, job.workload.id.hex) == []

    admission_pass()
    workload_start(workload_id=job.workload.id)

    made = objects_of(cluster, job.workload.id.hex)
    jobs = {obj["metadata"]["name"].rsplit("-", 1)[-1]: obj for obj in made if obj["kind"] == "Job"}
    assert sorted(jobs) == ["chief", "ps", "worker"]  # runtime 2.11 names the master "chief"
    assert jobs["worker"]["spec"]["completions"] == 2
    assert jobs["worker"]["spec"]["completionMode"] == "Indexed"
    container = jobs["chief"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["image"] == "python:3.7-slim"
    assert (
        "nvidia.com/gpu" not in jobs["ps"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    )
    assert any(obj["kind"] == "Service" for obj in made)
    for obj in made:
        stored = {k: v for k, v in obj.items() if k != "status"}
        stored["metadata"] = {
            k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "labels")
        }
        kubernetes_validate.validate(stored, "1.33", strict=True)
