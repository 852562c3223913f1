"""MPI jobs on the Kubernetes backend, against the Kubernetes API test server: nothing before the
gang is admitted, then mpi-operator v2's shape from built-in kinds (validated against the 1.33
schemas), the MPIJob where kubeflow.org/v2beta1 is served, and a PodGroup where coscheduling is."""

from __future__ import annotations

import kubernetes_validate
import pytest

from distributed_app.services import distributed_job_create
from mlplatform.compute import backends
from mlplatform.compute.backends.base import LABEL_WORKLOAD
from mlplatform.compute.services import admission_pass, workload_start
from mlplatform.core.errors import ApplicationError
from tests.factories import quota
from tests.kube import kubeconfig
from tests.kube.resources import OPTIONAL_GROUPS

KINDS = ("ConfigMap", "Secret", "Service", "Job", "MPIJob", "PodGroup")
BODY = {
    "name": "allreduce",
    "image": "ghcr.io/acme/mpi:1",
    "command": ["python", "allreduce.py"],
    "workers": 2,
    "slots_per_worker": 2,
    "flavor": "nvidia-a100-40gb",
}


@pytest.fixture
def cluster(kube, settings, tmp_path, monkeypatch, project):
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", kube.url)))
    settings.COMPUTE_BACKEND = "kubernetes"
    backends.get_backend.cache_clear()
    quota(project, "nvidia-a100-40gb", nominal_gpus=8, nominal_cpu=256, nominal_memory_gib=2048)
    yield kube
    backends.get_backend.cache_clear()


def objects_of(kube, workload_id: str) -> dict[str, list[dict]]:
    made: dict[str, list[dict]] = {}
    for kind in KINDS:
        try:
            found = kube.objects(kind)
        except KeyError:  # an optional group this cluster does not serve
            continue
        for obj in found:
            if (obj["metadata"].get("labels") or {}).get(LABEL_WORKLOAD) == workload_id:
                made.setdefault(kind, []).append(obj)
    return made


def run(project, body=BODY):
    job = distributed_job_create(project=project, body=body)
    admission_pass()
    workload_start(workload_id=job.workload.id)
    return job


def test_the_gang_is_created_only_when_admitted_in_the_built_in_shape(cluster, project):
    job = distributed_job_create(project=project, body=BODY)
    assert objects_of(cluster, job.workload.id.hex) == {}

    admission_pass()
    workload_start(workload_id=job.workload.id)

    made = objects_of(cluster, job.workload.id.hex)
    assert sorted(made) == ["ConfigMap", "Job", "Secret", "Service"]
    secrets = {obj["type"] for obj in made["Secret"]}
    assert "kubernetes.io/ssh-auth" in secrets
    hostfile = next(obj for obj in made["ConfigMap"] if "hostfile" in obj.get("data", {}))
    assert hostfile["data"]["hostfile"].count(" slots=2\n") == 2
    jobs = {obj["metadata"]["name"].rsplit("-", 1)[-1]: obj for obj in made["Job"]}
    assert jobs["worker"]["spec"]["completions"] == 2
    assert (
        jobs["worker"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
        == "2"
    )
    for obj in [*made["Job"], *made["Secret"], hostfile]:
        kubernetes_validate.validate(obj, "1.33", strict=False)


def test_where_mpijob_and_coscheduling_are_served_an_mpijob_and_a_pod_group_are_made(cluster, project):
    cluster.add_api_group(*OPTIONAL_GROUPS["mpijob"])
    cluster.add_api_group(*OPTIONAL_GROUPS["coscheduling"])

    job = run(project)

    made = objects_of(cluster, job.workload.id.hex)
    assert "Job" not in made  # the operator makes the launcher Job and the workers
    (mpi_job,) = made["MPIJob"]
    assert mpi_job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 2
    (pod_group,) = made["PodGroup"]
    assert pod_group["spec"]["minMember"] == 3
    assert pod_group["spec"]["minResources"]["nvidia.com/gpu"] == "4"


def test_on_an_image_backend_a_job_without_an_image_is_refused(cluster, project):
    with pytest.raises(ApplicationError) as refused:
        distributed_job_create(project=project, body={**BODY, "image": ""})

    assert refused.value.field == "image"
