"""An MPI gang's Kubernetes objects (compute.backends.kubernetes.mpi): mpi-operator v2's shape from
built-in kinds, checked against the Kubernetes 1.33 schemas; the MPIJob and PodGroup shapes,
checked against their projects' CRDs (tests/compute/crds/: mpi-operator v0.8.0's kubeflow.org/v2beta1,
scheduler-plugins v0.33.5's scheduling.x-k8s.io/v1alpha1)."""

from __future__ import annotations

import base64
import subprocess
from decimal import Decimal

import jsonschema
import pytest

from mlplatform.compute.backends.kubernetes import mpi
from mlplatform.compute.backends.kubernetes.manifests import owner_reference, root
from mlplatform.compute.spec import Mpi, ReplicaGroup, Resources, WorkloadKind, WorkloadSpec
from tests.compute import crd_schema
from tests.compute.test_manifests import (
    FLAVORS,
    NO_WIRING,
    created,
    job,
    of_kind,
    one,
    ref_for,
    schema_errors,
)

KEYS = mpi.SshKeys(
    private_pem="-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", public_line="ssh-ed25519 AAAA x\n"
)


def gang(*, workers: int = 3, slots: int = 2, implementation: str = "openmpi") -> WorkloadSpec:
    return WorkloadSpec(
        name="mpi-allreduce",
        kind=WorkloadKind.BATCH,
        groups=(
            ReplicaGroup(
                role="launcher",
                count=1,
                image="ghcr.io/acme/mpi:1",
                command=("python", "allreduce.py"),
                resources=Resources(flavor="a100", cpu=Decimal(1), memory_gib=Decimal(1)),
            ),
            ReplicaGroup(
                role="worker",
                count=workers,
                image="ghcr.io/acme/mpi:1",
                resources=Resources(flavor="a100", gpus=slots, cpu=Decimal(24), memory_gib=Decimal(170)),
            ),
        ),
        mpi=Mpi(implementation=implementation, slots=slots),
    )


def build(spec: WorkloadSpec, **integrations: bool) -> list[dict]:
    ref = ref_for(spec)
    owner = owner_reference(created(root(ref, spec)))
    return mpi.mpi_objects(ref, spec, FLAVORS, NO_WIRING, owner, keys=KEYS, integrations=integrations)


def test_the_built_in_shape_matches_the_kubernetes_schema():
    objects = build(gang())

    assert schema_errors(objects) == []
    assert [obj["kind"] for obj in objects] == ["Secret", "ConfigMap", "Service", "Job", "Job"]


def test_workers_are_an_indexed_job_running_sshd_behind_the_headless_service():
    objects = build(gang(workers=3))

    workers = job(objects, "worker")
    assert (workers["spec"]["completionMode"], workers["spec"]["completions"]) == ("Indexed", 3)
    pod = workers["spec"]["template"]["spec"]
    assert pod["subdomain"] == one(objects, "Service")["metadata"]["name"]
    assert one(objects, "Service")["spec"]["clusterIP"] == "None"
    (container,) = pod["containers"]
    assert container["command"][0] == "/usr/sbin/sshd"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}  # sshd on 2222 needs none


def test_the_ssh_key_pair_is_a_secret_that_every_pod_mounts():
    objects = build(gang())

    secret = one(objects, "Secret")
    assert secret["type"] == "kubernetes.io/ssh-auth"
    assert base64.b64decode(secret["data"]["ssh-privatekey"]).decode() == KEYS.private_pem
    assert base64.b64decode(secret["data"]["authorized_keys"]).decode() == KEYS.public_line
    for obj in of_kind(objects, "Job"):
        volumes = obj["spec"]["template"]["spec"]["volumes"]
        assert {
            "name": "mpi-ssh",
            "secret": {"secretName": secret["metadata"]["name"], "defaultMode": 0o400},
        } in volumes


def test_the_hostfile_names_each_worker_pod_with_its_slots():
    spec = gang(workers=2, slots=8)
    objects = build(spec)

    hostfile = one(objects, "ConfigMap")["data"]["hostfile"]
    service = one(objects, "Service")["metadata"]["name"]
    worker_job = job(objects, "worker")["metadata"]["name"]
    assert hostfile == (
        f"{worker_job}-0.{service}.team-a.svc slots=8\n{worker_job}-1.{service}.team-a.svc slots=8\n"
    )
    assert build(gang(workers=1, slots=4, implementation="intel"))[1]["data"]["hostfile"].endswith(".svc:4\n")


def test_the_launcher_waits_for_every_worker_then_runs_mpirun_and_names_a_missing_one():
    objects = build(gang(workers=3, slots=2))

    (container,) = job(objects, "launcher")["spec"]["template"]["spec"]["containers"]
    command, script = container["command"][:2], container["command"][2]
    assert command == ["/bin/sh", "-c"]
    assert container["command"][-2:] == ["python", "allreduce.py"]
    # An image without mpirun: the script itself, run by a real shell with no mpirun on PATH
    ran = subprocess.run(
        ["/bin/sh", "-c", script, "mpi-launcher"],
        env={"PATH": "/nonexistent"},
        capture_output=True,
        text=True,
    )
    assert (ran.returncode, ran.stdout) == (
        127,
        "mpirun not found in image ghcr.io/acme/mpi:1; it needs an MPI\n",
    )
    assert "until ssh -p 2222" in script
    assert f"exec mpirun -np 6 --hostfile {mpi.HOSTFILE}" in script
    assert "--- hostfile ---" in script  # the job page shows what the launcher printed


def test_with_coscheduling_a_pod_group_holds_the_whole_gang():
    objects = build(gang(workers=3, slots=2), coscheduling=True)

    group = one(objects, "PodGroup")
    assert group["apiVersion"] == "scheduling.x-k8s.io/v1alpha1"
    assert group["spec"]["minMember"] == 4  # the launcher and three workers
    assert group["spec"]["minResources"] == {"cpu": "73", "memory": "511Gi", "nvidia.com/gpu": "6"}
    crd_schema.validate(group)
    for obj in of_kind(objects, "Job"):
        template = obj["spec"]["template"]
        assert template["metadata"]["labels"][mpi.POD_GROUP_LABEL] == group["metadata"]["name"]
        assert template["spec"]["schedulerName"] == mpi.COSCHEDULER
    assert schema_errors([obj for obj in objects if obj["kind"] != "PodGroup"]) == []


def test_where_mpijob_is_served_the_mpijob_is_made_instead_of_the_built_in_shape():
    objects = build(gang(workers=3, slots=2), mpijob=True)

    (mpi_job,) = objects
    assert (mpi_job["apiVersion"], mpi_job["kind"]) == ("kubeflow.org/v2beta1", "MPIJob")
    crd_schema.validate(mpi_job)
    spec = mpi_job["spec"]
    assert (spec["slotsPerWorker"], spec["mpiImplementation"]) == (2, "OpenMPI")
    assert set(spec["mpiReplicaSpecs"]) == {"Launcher", "Worker"}
    assert spec["mpiReplicaSpecs"]["Worker"]["replicas"] == 3
    launcher = spec["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    shell, flag, script, name, *command = launcher["command"]
    assert (shell, flag, name, command) == ("/bin/sh", "-c", "mpi-launcher", ["python", "allreduce.py"])
    assert script.splitlines()[-1] == 'exec mpirun -n 6 "$@"'  # the operator's variables name the hostfile
    assert f"cat {mpi.OPERATOR_HOSTFILE}" in script  # printed for the job's page
    assert "ssh" not in script  # the operator waits for the workers itself
    assert "schedulingPolicy" not in spec["runPolicy"]


def test_with_mpijob_and_coscheduling_the_operator_makes_the_pod_group_from_the_scheduling_policy():
    objects = build(gang(workers=3, slots=2), mpijob=True, coscheduling=True)

    (mpi_job,) = objects  # no PodGroup of ours: the operator refuses one of its name it does not control
    crd_schema.validate(mpi_job)
    assert mpi_job["spec"]["runPolicy"]["schedulingPolicy"] == {
        "minAvailable": 4,
        "minResources": {"cpu": "73", "memory": "511Gi", "nvidia.com/gpu": "6"},
        "scheduleTimeoutSeconds": mpi.SCHEDULE_TIMEOUT_SECONDS,
    }
    for replica in mpi_job["spec"]["mpiReplicaSpecs"].values():
        assert mpi.POD_GROUP_LABEL not in replica["template"]["metadata"]["labels"]  # the operator's to set


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "slotPerWorker"), 2),
        (("spec", "mpiImplementation"), "LAM"),
        (("spec", "runPolicy", "backoffLimit"), "x"),
    ],
)
def test_the_crd_schema_refuses_a_misspelt_field_or_a_bad_value(path, value):
    (mpi_job,) = build(gang(), mpijob=True)
    *parents, last = path
    node = mpi_job
    for key in parents:
        node = node[key]
    node[last] = value

    with pytest.raises(jsonschema.ValidationError):
        crd_schema.validate(mpi_job)


def test_generated_keys_are_an_openssh_pair():
    keys = mpi.generate_ssh_keys()

    assert keys.private_pem.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert keys.public_line.startswith("ssh-ed25519 ")
