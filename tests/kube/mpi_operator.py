"""mpi-operator v2, played by the test on the API test server: for an MPIJob, the pods it makes and
the status it writes, as its controller does (pkg/controller/mpi_job_controller.go, v0.8.0).

Worker pods `{job}-worker-{i}` are owned by the MPIJob and carry the template's labels plus the
operator's (`training.kubeflow.org/job-name`, `job-role`, `replica-index`); the launcher pod is owned
by the launcher Job `{job}-launcher`, which carries only `app: {job}` (none of ours). Conditions are
common/v1 JobConditions: Created, Running, Succeeded, Failed."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tests.kube.objects import timestamp

if TYPE_CHECKING:
    from tests.kube.server import KubeApiServer

OPERATOR_LABELS = ("training.kubeflow.org/operator-name", "mpi-operator")
JOB_NAME = "training.kubeflow.org/job-name"
JOB_ROLE = "training.kubeflow.org/job-role"
REPLICA_INDEX = "training.kubeflow.org/replica-index"


class MpiOperator:
    def __init__(self, server: KubeApiServer):
        self.server = server

    def create(self, namespace: str, name: str) -> None:
        """What the operator does first: the Created condition."""
        self._condition(namespace, name, "Created", "MPIJobCreated", f"MPIJob {namespace}/{name} is created.")

    def start(self, namespace: str, name: str, *, launcher_running: bool = True) -> list[dict]:
        """The worker pods running, then the launcher Job and its pod; Running once the launcher runs."""
        job = self._get("MPIJob", namespace, name)
        replicas = job["spec"]["mpiReplicaSpecs"]
        pods = []
        for index in range(replicas["Worker"]["replicas"]):
            pod = self._pod(job, job, "Worker", f"{name}-worker-{index}", {REPLICA_INDEX: str(index)})
            pods.append(self.server.kubelet.set_pod(namespace, self.server.put(pod)["metadata"]["name"]))
        launcher_job = self.server.put(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": f"{name}-launcher",
                    "namespace": namespace,
                    "labels": {"app": name},
                    "ownerReferences": [_owner(job)],
                },
                "spec": {"template": replicas["Launcher"]["template"]},
            }
        )
        launcher = self._pod(launcher_job, job, "Launcher", f"{name}-launcher-{uuid.uuid4().hex[:5]}", {})
        pod_name = self.server.put(launcher)["metadata"]["name"]
        pods.append(self.server.kubelet.set_pod(namespace, pod_name, running=launcher_running))
        job = self._get("MPIJob", namespace, name)
        job["status"] = {**job.get("status", {}), "startTime": timestamp()}
        self.server.put(job)
        if launcher_running:
            self._condition(
                namespace, name, "Running", "MPIJobRunning", f"MPIJob {namespace}/{name} is running."
            )
        return pods

    def finish(self, namespace: str, name: str, *, exit_code: int = 0) -> None:
        """The launcher exits with `exit_code`; the MPIJob Succeeded (0) or Failed."""
        launcher = self.launcher_pod(namespace, name)
        self.server.kubelet.set_pod(namespace, launcher["metadata"]["name"], exit_code=exit_code)
        if exit_code == 0:
            self._condition(
                namespace,
                name,
                "Succeeded",
                "MPIJobSucceeded",
                f"MPIJob {namespace}/{name} successfully completed.",
            )
        else:
            self._condition(
                namespace,
                name,
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        job = self._get("MPIJob", namespace, name)
        job["status"]["completionTime"] = timestamp()
        self.server.put(job)

    def launcher_pod(self, namespace: str, name: str) -> dict:
        (pod,) = [
            pod
            for pod in self.server.objects("Pod", namespace)
            if (pod["metadata"].get("labels") or {}).get(JOB_ROLE) == "launcher"
            and pod["metadata"]["labels"].get(JOB_NAME) == name
        ]
        return pod

    def _pod(self, owner: dict, job: dict, replica: str, name: str, labels: dict) -> dict:
        template = job["spec"]["mpiReplicaSpecs"][replica]["template"]
        operator = {
            OPERATOR_LABELS[0]: OPERATOR_LABELS[1],
            JOB_NAME: job["metadata"]["name"],
            JOB_ROLE: replica.lower(),
        }
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": job["metadata"]["namespace"],
                "labels": {**(template.get("metadata") or {}).get("labels", {}), **operator, **labels},
                "ownerReferences": [_owner(owner)],
            },
            "spec": {**template["spec"], "hostname": name, "subdomain": job["metadata"]["name"]},
        }

    def _condition(self, namespace: str, name: str, kind: str, reason: str, message: str) -> None:
        job = self._get("MPIJob", namespace, name)
        status = job.setdefault("status", {})
        now = timestamp()
        conditions = [c for c in status.get("conditions", []) if c["type"] != kind]
        if kind in ("Succeeded", "Failed"):  # the operator marks Running False when the job ends
            conditions = [{**c, "status": "False"} if c["type"] == "Running" else c for c in conditions]
        conditions.append(
            {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}
        )
        status["conditions"] = conditions
        self.server.put(job)

    def _get(self, kind: str, namespace: str, name: str) -> dict:
        obj = self.server.get(kind, namespace, name)
        if obj is None:
            raise LookupError(f"no {kind} {namespace}/{name} on the test server")
        return obj


def _owner(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
