"""MPI jobs on the Kubernetes backend, against the Kubernetes API test server: nothing before the
gang is admitted, then mpi-operator v2's shape from built-in kinds (validated against the 1.33
schemas), the MPIJob where kubeflow.org/v2beta1 is served, and a PodGroup where coscheduling is
(checked against their CRDs). With an MPIJob, mpi-operator is played by the test (tests/kube/
mpi_operator.py): the job's state, replicas, logs and hostfile come from what it makes."""

from __future__ import annotations

import kubernetes_validate
import pytest

from distributed_app.selectors import hostfile_used, replica_logs
from distributed_app.services import distributed_job_create
from mlplatform.compute import backends
from mlplatform.compute.backends.base import LABEL_WORKLOAD
from mlplatform.compute.backends.kubernetes.mpi import HOSTFILE_BEGIN, HOSTFILE_END, POD_GROUP_LABEL
from mlplatform.compute.services import admission_pass, workload_start, workloads_sync
from mlplatform.core.errors import ApplicationError
from tests.compute import crd_schema
from tests.factories import quota
from tests.kube import kubeconfig
from tests.kube.mpi_operator import MpiOperator
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


def test_where_coscheduling_is_served_a_pod_group_holds_the_built_in_gang(cluster, project):
    cluster.add_api_group(*OPTIONAL_GROUPS["coscheduling"])

    job = run(project)

    made = objects_of(cluster, job.workload.id.hex)
    (pod_group,) = made["PodGroup"]
    crd_schema.validate(pod_group)
    assert (pod_group["spec"]["minMember"], pod_group["spec"]["minResources"]["nvidia.com/gpu"]) == (3, "4")
    for obj in made["Job"]:
        assert obj["spec"]["template"]["metadata"]["labels"][POD_GROUP_LABEL] == pod_group["metadata"]["name"]


def test_where_mpijob_and_coscheduling_are_served_the_mpijob_asks_the_operator_for_the_gang(cluster, project):
    cluster.add_api_group(*OPTIONAL_GROUPS["mpijob"])
    cluster.add_api_group(*OPTIONAL_GROUPS["coscheduling"])

    job = run(project)

    made = objects_of(cluster, job.workload.id.hex)
    assert "Job" not in made  # the operator makes the launcher Job and the workers
    assert "PodGroup" not in made  # and the PodGroup, named as the MPIJob
    (mpi_job,) = made["MPIJob"]
    crd_schema.validate(mpi_job)
    assert mpi_job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 2
    policy = mpi_job["spec"]["runPolicy"]["schedulingPolicy"]
    assert (policy["minAvailable"], policy["minResources"]["nvidia.com/gpu"]) == (3, "4")


@pytest.fixture
def operator(cluster):
    """The API test server serving MPIJob, and mpi-operator played by the test."""
    cluster.add_api_group(*OPTIONAL_GROUPS["mpijob"])
    return MpiOperator(cluster)


def test_an_mpijob_goes_pending_running_and_succeeded_as_the_operator_reports(cluster, operator, project):
    job = run(project)
    name = job.workload.ref.key
    operator.create(project.slug, name)
    workloads_sync()
    job.refresh_from_db()
    assert job.state == "STARTING"

    operator.start(project.slug, name)
    workloads_sync()
    job.refresh_from_db()
    assert job.state == "RUNNING"
    assert [(r["role"], r["index"], r["phase"]) for r in job.workload.replicas] == [
        ("launcher", 0, "running"),
        ("worker", 0, "running"),
        ("worker", 1, "running"),
    ]

    operator.finish(project.slug, name)
    workloads_sync()
    job.refresh_from_db()
    assert job.state == "SUCCEEDED"


def test_a_failed_launcher_fails_the_job_with_its_exit_code_and_the_operators_reason(
    cluster, operator, project
):
    job = run(project)
    name = job.workload.ref.key
    operator.start(project.slug, name)
    operator.finish(project.slug, name, exit_code=3)

    workloads_sync()

    job.refresh_from_db()
    assert job.state == "FAILED"
    assert job.error_message.startswith("launcher 0 failed with exit code 3")
    assert "BackoffLimitExceeded" in job.error_message


def test_the_page_shows_the_launchers_log_and_the_hostfile_the_operator_wrote(cluster, operator, project):
    job = run(project)
    name = job.workload.ref.key
    operator.start(project.slug, name)
    launcher = operator.launcher_pod(project.slug, name)["metadata"]["name"]
    hostfile = "".join(f"{name}-worker-{i}.{name}.{project.slug}.svc slots=2\n" for i in range(2))
    cluster.set_logs(project.slug, launcher, f"{HOSTFILE_BEGIN}\n{hostfile}{HOSTFILE_END}\nrank 0: sum 6\n")
    workloads_sync()
    job.refresh_from_db()

    logs = dict(replica_logs(job))

    assert logs["launcher-0"][-1].rstrip() == "rank 0: sum 6"
    assert hostfile_used(logs["launcher-0"]) == hostfile


def test_on_an_image_backend_a_job_without_an_image_is_refused(cluster, project):
    with pytest.raises(ApplicationError) as refused:
        distributed_job_create(project=project, body={**BODY, "image": ""})

    assert refused.value.field == "image"
