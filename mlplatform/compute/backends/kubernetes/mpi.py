"""Kubernetes objects for an MPI gang (`WorkloadSpec.mpi`): pure functions, as manifests.py.

The built-in shape is mpi-operator v2's, from batch/v1 and core kinds alone: the workers are an
Indexed Job behind the workload's headless Service, each running sshd; an SSH key pair in a
Secret (`kubernetes.io/ssh-auth`) that every pod mounts; a hostfile ConfigMap with one line per
worker (`<worker-pod>.<service> slots=<slots>` for OpenMPI, `<host>:<slots>` for Intel MPI and
MPICH); and a launcher Job that waits until it can reach every worker, prints the hostfile and
runs mpirun. Where the cluster serves `kubeflow.org/v2beta1`, the MPIJob itself instead, the
operator making the rest. Where it serves `scheduling.x-k8s.io` (the coscheduling plugin), a
PodGroup with minMember and minResources for the whole gang, and every pod names it, so no
partial gang holds GPUs on nodes; with an MPIJob, the same figures go in its
runPolicy.schedulingPolicy and the operator makes the PodGroup (a second one of ours, of the same
name, would stop the operator: it refuses a PodGroup it does not control).
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from mlplatform.compute.backends.base import FlavorInfo, Wiring, WorkloadRef
from mlplatform.compute.backends.kubernetes import manifests
from mlplatform.compute.spec import Mpi, WorkloadKind, WorkloadSpec

MPI_DIR = "/etc/mpi"  # where pods find the hostfile and the SSH keys, as mpi-operator mounts them
HOSTFILE = f"{MPI_DIR}/config/hostfile"
OPERATOR_HOSTFILE = f"{MPI_DIR}/hostfile"  # where mpi-operator v2 mounts the hostfile it writes
SSH_DIR = f"{MPI_DIR}/ssh"
SSH_PORT = 2222  # unprivileged: pods run as non-root with every capability dropped
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
COSCHEDULER = "scheduler-plugins-scheduler"  # the scheduler-plugins chart's scheduler name
SCHEDULE_TIMEOUT_SECONDS = 600  # how long a gang may wait for all its pods to fit before retrying
HOSTFILE_BEGIN, HOSTFILE_END = "--- hostfile ---", "--- end of hostfile ---"
IMPLEMENTATIONS = {"openmpi": "OpenMPI", "intel": "Intel", "mpich": "MPICH"}  # MPIJob's names
SSH_OPTIONS = (
    f"-p {SSH_PORT} -i {SSH_DIR}/ssh-privatekey -o StrictHostKeyChecking=no -o ConnectionAttempts=10"
)


@dataclass(frozen=True)
class SshKeys:
    """An OpenSSH key pair: the private key in PEM, the public key as an authorized_keys line."""

    private_pem: str
    public_line: str


def ssh_secret_name(ref: WorkloadRef) -> str:
    return f"{ref.key}-ssh"


def hostfile_name(ref: WorkloadRef) -> str:
    return f"{ref.key}-hostfile"


def hostfile(ref: WorkloadRef, spec: WorkloadSpec) -> str:
    """One line per worker pod, by its DNS name under the workload's headless Service."""
    mpi = _mpi(spec)
    job = manifests.group_name(ref, WorkloadKind.BATCH, mpi.worker)
    service = f"{manifests.service_name(ref)}.{ref.project}.svc"
    line = "{host} slots={slots}" if mpi.implementation == "openmpi" else "{host}:{slots}"
    workers = _group(spec, mpi.worker).count
    return "".join(line.format(host=f"{job}-{i}.{service}", slots=mpi.slots) + "\n" for i in range(workers))


def mpi_objects(
    ref: WorkloadRef,
    spec: WorkloadSpec,
    flavors: Mapping[str, FlavorInfo],
    wiring: Wiring,
    owner: dict | None,
    *,
    keys: SshKeys,
    integrations: Mapping[str, bool],
) -> list[dict]:
    """The gang's objects after the root and the storage Secret, in creation order: the PodGroup
    (with coscheduling), then the MPIJob (where served) or the built-in shape. Raises ValueError
    as manifests.workload_objects does."""
    mpi = _mpi(spec)
    objects = manifests.workload_objects(ref, spec, flavors, wiring, owner)
    jobs = {obj["metadata"]["labels"][manifests.LABEL_ROLE]: obj for obj in objects if obj["kind"] == "Job"}
    if integrations.get("mpijob"):
        # The operator makes the gang's PodGroup itself (named as the MPIJob, refusing one it does
        # not control), from runPolicy.schedulingPolicy, when it runs with gang scheduling.
        claims = [obj for obj in objects if obj["kind"] == "PersistentVolumeClaim"]
        gang = _gang_policy(spec, flavors) if integrations.get("coscheduling") else None
        return [*claims, mpi_job(ref, spec, mpi, jobs, owner, gang=gang)]
    first = []
    if integrations.get("coscheduling"):
        first.append(pod_group(ref, spec, flavors, owner))
        for job in jobs.values():
            _join_pod_group(job["spec"]["template"], ref)
    _as_worker(jobs[mpi.worker]["spec"]["template"], ref)
    _as_launcher(jobs[mpi.launcher], ref, spec, mpi)
    return [*first, _ssh_secret(ref, keys, owner), _hostfile_map(ref, spec, owner), *objects]


def pod_group(ref: WorkloadRef, spec: WorkloadSpec, flavors: Mapping[str, FlavorInfo], owner) -> dict:
    """scheduling.x-k8s.io/v1alpha1 PodGroup: the scheduler binds all of the gang's pods or none."""
    return {
        "apiVersion": "scheduling.x-k8s.io/v1alpha1",
        "kind": "PodGroup",
        "metadata": manifests.object_metadata(ref, ref.key, owner),
        "spec": {
            "minMember": spec.replicas,
            "minResources": _gang_resources(spec, flavors),
            "scheduleTimeoutSeconds": SCHEDULE_TIMEOUT_SECONDS,
        },
    }


def _gang_policy(spec: WorkloadSpec, flavors: Mapping[str, FlavorInfo]) -> dict:
    """MPIJob's runPolicy.schedulingPolicy: what the operator copies into the PodGroup it makes."""
    return {
        "minAvailable": spec.replicas,
        "minResources": _gang_resources(spec, flavors),
        "scheduleTimeoutSeconds": SCHEDULE_TIMEOUT_SECONDS,
    }


def _gang_resources(spec: WorkloadSpec, flavors: Mapping[str, FlavorInfo]) -> dict[str, str]:
    """What the whole gang requests: cpu, memory and each flavor's GPU resource."""
    cpu, memory, gpus = Decimal(0), Decimal(0), {}
    for group in spec.groups:
        r = group.resources
        cpu += r.cpu * group.count
        memory += r.memory_gib * group.count
        if r.gpus:
            name = flavors[r.flavor].resource_name
            gpus[name] = gpus.get(name, 0) + r.gpus * group.count
    return {"cpu": _quantity(cpu), "memory": f"{_quantity(memory)}Gi", **{k: str(v) for k, v in gpus.items()}}


def mpi_job(
    ref: WorkloadRef, spec: WorkloadSpec, mpi: Mpi, jobs: dict[str, dict], owner, *, gang: dict | None = None
) -> dict:
    """kubeflow.org/v2beta1 MPIJob from the built-in Jobs' pod templates; the operator adds the
    SSH keys, hostfile and Services and waits for the workers before the launcher starts. `gang`:
    runPolicy.schedulingPolicy, where the cluster schedules gangs."""
    policy = spec.failure_policy
    run_policy: dict = {"cleanPodPolicy": "Running", "backoffLimit": policy.backoff_limit}
    if gang:
        run_policy["schedulingPolicy"] = gang
    if policy.ttl_after_finished_seconds is not None:
        run_policy["ttlSecondsAfterFinished"] = policy.ttl_after_finished_seconds
    if policy.max_run_seconds is not None:
        run_policy["activeDeadlineSeconds"] = policy.max_run_seconds
    launcher = jobs[mpi.launcher]["spec"]["template"]
    container = launcher["spec"]["containers"][0]
    ranks = _group(spec, mpi.worker).count * mpi.slots
    command = [*container.pop("command", []), *container.pop("args", [])]
    # The operator sets the hostfile and ssh arguments in OMPI_MCA_*/I_MPI_* variables.
    script = _launcher_script(container["image"], OPERATOR_HOSTFILE, f"mpirun -n {ranks}", wait=False)
    container["command"] = ["/bin/sh", "-c", script, "mpi-launcher", *command]
    worker = jobs[mpi.worker]["spec"]["template"]
    for template in (launcher, worker):
        template["spec"].pop("subdomain", None)  # the operator names its own Service
        template["spec"].pop("restartPolicy", None)  # set per replica type below
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": manifests.object_metadata(ref, ref.key, owner),
        "spec": {
            "slotsPerWorker": mpi.slots,
            "mpiImplementation": IMPLEMENTATIONS[mpi.implementation],
            "launcherCreationPolicy": "WaitForWorkersReady",
            "runPolicy": run_policy,
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "Never", "template": launcher},
                "Worker": {
                    "replicas": _group(spec, mpi.worker).count,
                    "restartPolicy": "Never",
                    "template": worker,
                },
            },
        },
    }


# --- the built-in shape ------------------------------------------------------------------------


def _ssh_secret(ref: WorkloadRef, keys: SshKeys, owner) -> dict:
    data = {
        "ssh-privatekey": keys.private_pem,
        "ssh-publickey": keys.public_line,
        "authorized_keys": keys.public_line,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": manifests.object_metadata(ref, ssh_secret_name(ref), owner),
        "type": "kubernetes.io/ssh-auth",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def _hostfile_map(ref: WorkloadRef, spec: WorkloadSpec, owner) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": manifests.object_metadata(ref, hostfile_name(ref), owner),
        "data": {"hostfile": hostfile(ref, spec)},
    }


def _mount_mpi_files(template: dict, ref: WorkloadRef) -> None:
    pod = template["spec"]
    pod.setdefault("volumes", []).extend(
        [
            {"name": "mpi-hostfile", "configMap": {"name": hostfile_name(ref)}},
            {"name": "mpi-ssh", "secret": {"secretName": ssh_secret_name(ref), "defaultMode": 0o400}},
        ]
    )
    pod["containers"][0].setdefault("volumeMounts", []).extend(
        [
            {"name": "mpi-hostfile", "mountPath": MPI_DIR + "/config", "readOnly": True},
            {"name": "mpi-ssh", "mountPath": SSH_DIR, "readOnly": True},
        ]
    )


def _as_worker(template: dict, ref: WorkloadRef) -> None:
    """Every worker runs sshd on an unprivileged port, with the Secret's key as host and user key."""
    container = template["spec"]["containers"][0]
    container.pop("args", None)
    container["command"] = [
        "/usr/sbin/sshd",
        "-De",
        "-p",
        str(SSH_PORT),
        "-h",
        f"{SSH_DIR}/ssh-privatekey",
        "-o",
        f"AuthorizedKeysFile={SSH_DIR}/authorized_keys",
        "-o",
        "StrictModes=no",
        "-o",
        "PidFile=none",
    ]
    container["ports"] = [{"name": "ssh", "containerPort": SSH_PORT}]
    container["readinessProbe"] = {"tcpSocket": {"port": SSH_PORT}, "periodSeconds": 2}
    _mount_mpi_files(template, ref)


def _as_launcher(job: dict, ref: WorkloadRef, spec: WorkloadSpec, mpi: Mpi) -> None:
    """The launcher waits until it reaches every worker over ssh, prints the hostfile it uses, and
    runs mpirun; an image without mpirun fails naming it (exit code 127, as a shell's)."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    ranks = _group(spec, mpi.worker).count * mpi.slots
    command = [*container.pop("command", []), *container.pop("args", [])]
    if mpi.implementation == "openmpi":
        mpirun = f"mpirun -np {ranks} --hostfile {HOSTFILE} --mca plm_rsh_args {shlex.quote(SSH_OPTIONS)}"
    else:  # Hydra's launcher (Intel MPI, MPICH)
        mpirun = (
            f"mpirun -n {ranks} -f {HOSTFILE} -bootstrap ssh -bootstrap-exec-args {shlex.quote(SSH_OPTIONS)}"
        )
    script = _launcher_script(container["image"], HOSTFILE, mpirun, wait=True)
    container["command"] = ["/bin/sh", "-c", script, "mpi-launcher", *command]
    _mount_mpi_files(job["spec"]["template"], ref)


def _launcher_script(image: str, hostfile: str, mpirun: str, *, wait: bool) -> str:
    """The launcher's shell: fail naming a missing mpirun (exit code 127, as a shell's), wait until
    ssh reaches every worker (`wait`; the operator waits itself), print the hostfile (the job's page
    shows it), then exec mpirun with the user's command as "$@"."""
    missing = f"echo 'mpirun not found in image '{shlex.quote(image)}'; it needs an MPI'"
    waiting = [
        f"for host in $(cut -d' ' -f1 {hostfile} | cut -d: -f1); do",
        f'  until ssh {SSH_OPTIONS} "$host" true 2>/dev/null; do echo "waiting for $host"; sleep 2; done',
        "done",
    ]
    return "\n".join(
        [
            f"command -v mpirun >/dev/null || {{ {missing}; exit 127; }}",
            *(waiting if wait else []),
            f"echo {HOSTFILE_BEGIN!r}; cat {hostfile}; echo {HOSTFILE_END!r}",
            f'exec {mpirun} "$@"',
        ]
    )


def _join_pod_group(template: dict, ref: WorkloadRef) -> None:
    template["metadata"]["labels"][POD_GROUP_LABEL] = ref.key
    template["spec"]["schedulerName"] = COSCHEDULER


def _mpi(spec: WorkloadSpec) -> Mpi:
    if spec.mpi is None:
        raise ValueError(f"workload '{spec.name}' is not an MPI job")
    return spec.mpi


def _group(spec: WorkloadSpec, role: str):
    return next(group for group in spec.groups if group.role == role)


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


def generate_ssh_keys() -> SshKeys:
    """A fresh Ed25519 key pair (not pure: the backend calls it once per submit; a retried create
    keeps the Secret the first one made)."""
    # cryptography is heavy to import and only MPI jobs need it.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return SshKeys(private_pem=private.decode(), public_line=public.decode() + " mlplatform-mpi\n")
