"""The cluster's controllers and kubelets, played by the test: pods, their phases, Job conditions."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING

from tests.kube.objects import labels_of, timestamp

if TYPE_CHECKING:
    from tests.kube.server import KubeApiServer


class Kubelet:
    """What the cluster's controllers and kubelets would do, on the test's command: pods for a
    Job, StatefulSet or Deployment, pod phases and exit codes, Job conditions, log text."""

    def __init__(self, server: KubeApiServer):
        self.server = server

    def start_job(self, namespace: str, name: str, *, running: bool = True) -> list[dict]:
        """One pod per completion index (`{job}-{index}-{suffix}`), running or pending."""
        job = self._get("Job", namespace, name)
        count = job["spec"].get("completions") or job["spec"].get("parallelism") or 1
        pods = []
        for index in range(count):
            labels = {
                "batch.kubernetes.io/job-name": name,
                "job-name": name,
                "batch.kubernetes.io/controller-uid": job["metadata"]["uid"],
                "batch.kubernetes.io/job-completion-index": str(index),
            }
            annotations = {"batch.kubernetes.io/job-completion-index": str(index)}
            pod_name = f"{name}-{index}-{uuid.uuid4().hex[:5]}"
            pod = self._pod(job, pod_name, labels, annotations, hostname=f"{name}-{index}")
            pods.append(self.set_pod(namespace, self.server.put(pod)["metadata"]["name"], running=running))
        status = {"startTime": timestamp(), "active": count, "ready": count if running else 0}
        self._update_status("Job", namespace, name, status)
        return pods

    def finish_job(self, namespace: str, name: str) -> None:
        """Every pod exits 0 (started first if there are none); the Job is Complete."""
        pods = self.pods_of("Job", namespace, name) or self.start_job(namespace, name)
        for pod in pods:
            self.set_pod(namespace, pod["metadata"]["name"], exit_code=0)
        now = timestamp()
        conditions = [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "lastTransitionTime": now},
        ]
        status = {
            "succeeded": len(pods),
            "active": 0,
            "ready": 0,
            "completionTime": now,
            "conditions": conditions,
        }
        self._update_status("Job", namespace, name, status)

    def fail_job(
        self,
        namespace: str,
        name: str,
        *,
        index: int = 0,
        exit_code: int = 1,
        reason: str = "BackoffLimitExceeded",
        message: str = "Job has reached the specified backoff limit",
        pod_reason: str = "Error",
    ) -> None:
        """The pod of `index` exits with `exit_code` (the others are stopped); the Job Failed."""
        for pod in self.pods_of("Job", namespace, name) or self.start_job(namespace, name):
            labels = labels_of(pod)
            if labels.get("batch.kubernetes.io/job-completion-index") == str(index):
                self.set_pod(namespace, pod["metadata"]["name"], exit_code=exit_code, reason=pod_reason)
            else:
                self.server.delete("Pod", namespace, pod["metadata"]["name"])
        conditions = [
            {"type": "FailureTarget", "status": "True", "reason": reason, "message": message},
            {
                "type": "Failed",
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": timestamp(),
            },
        ]
        self._update_status(
            "Job", namespace, name, {"failed": 1, "active": 0, "ready": 0, "conditions": conditions}
        )

    def start_statefulset(self, namespace: str, name: str, *, ready: bool = True) -> list[dict]:
        """Pods `{name}-{i}`, running (ready or not)."""

        def identity(index: int) -> tuple[str, dict]:
            pod = f"{name}-{index}"
            return pod, {
                "statefulset.kubernetes.io/pod-name": pod,
                "apps.kubernetes.io/pod-index": str(index),
            }

        return self._start_replicas("StatefulSet", namespace, name, identity, ready)

    def start_deployment(self, namespace: str, name: str, *, ready: bool = True) -> list[dict]:
        """Pods `{name}-{hash}-{suffix}`, running (ready or not)."""
        template_hash = uuid.uuid4().hex[:10]

        def identity(_: int) -> tuple[str, dict]:
            return f"{name}-{template_hash}-{uuid.uuid4().hex[:5]}", {"pod-template-hash": template_hash}

        return self._start_replicas("Deployment", namespace, name, identity, ready)

    def _start_replicas(self, kind: str, namespace: str, name: str, identity, ready: bool) -> list[dict]:
        owner = self._get(kind, namespace, name)
        count = owner["spec"].get("replicas", 1)
        pods = []
        for index in range(count):
            pod_name, labels = identity(index)
            pod = self.server.put(self._pod(owner, pod_name, labels, {}))
            pods.append(self.set_pod(namespace, pod["metadata"]["name"], ready=ready))
        ready_count = count if ready else 0
        status = {"replicas": count, "readyReplicas": ready_count, "availableReplicas": ready_count}
        self._update_status(kind, namespace, name, status)
        return pods

    def set_pod(
        self,
        namespace: str,
        name: str,
        *,
        running: bool = True,
        ready: bool = True,
        exit_code: int | None = None,
        reason: str | None = None,
        waiting: str | None = None,
        restarts: int = 0,
    ) -> dict:
        """A pod's phase from its one container: waiting (`waiting` reason, or not `running`),
        running (`ready` or not), or terminated with `exit_code` (Succeeded when 0)."""
        pod = self._get("Pod", namespace, name)
        container = pod["spec"]["containers"][0]["name"]
        now = timestamp()
        if exit_code is not None:
            phase = "Succeeded" if exit_code == 0 else "Failed"
            terminated = {
                "exitCode": exit_code,
                "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            }
            state, is_ready = {"terminated": {**terminated, "startedAt": now, "finishedAt": now}}, False
        elif waiting or not running:
            phase, state, is_ready = "Pending", {"waiting": {"reason": waiting or "ContainerCreating"}}, False
        else:
            phase, state, is_ready = "Running", {"running": {"startedAt": now}}, ready
        pod["status"] = {
            "phase": phase,
            "startTime": now,
            "conditions": [{"type": "Ready", "status": str(is_ready)}],
            "containerStatuses": [
                {"name": container, "ready": is_ready, "restartCount": restarts, "state": state, "image": ""}
            ],
        }
        return self.server.put(pod)

    def report_metrics(self, namespace: str, name: str, containers: dict[str, dict[str, str]]) -> dict:
        """The pod's PodMetrics as metrics-server serves them (the metrics group must be added):
        the pod's labels, and each container's usage ({"cpu": "250m", "memory": "64Mi"})."""
        pod = self._get("Pod", namespace, name)
        metrics = {
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": namespace, "labels": labels_of(pod)},
            "timestamp": timestamp(),
            "window": "15s",
            "containers": [{"name": container, "usage": usage} for container, usage in containers.items()],
        }
        return self.server.put(metrics)

    def pods_of(self, kind: str, namespace: str, name: str) -> list[dict]:
        owner = self._get(kind, namespace, name)
        return [
            pod
            for pod in self.server.objects("Pod", namespace)
            if any(
                ref.get("uid") == owner["metadata"]["uid"]
                for ref in pod["metadata"].get("ownerReferences", [])
            )
        ]

    def _get(self, kind: str, namespace: str, name: str) -> dict:
        obj = self.server.get(kind, namespace, name)
        if obj is None:
            raise LookupError(f"no {kind} {namespace}/{name} on the test server")
        return obj

    def _pod(
        self, owner: dict, name: str, labels: dict, annotations: dict, hostname: str | None = None
    ) -> dict:
        template = owner["spec"]["template"]
        spec = copy.deepcopy(template["spec"])
        if hostname and spec.get("subdomain"):
            spec["hostname"] = hostname
        metadata = {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": {**(template.get("metadata") or {}).get("labels", {}), **labels},
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}

    def _update_status(self, kind: str, namespace: str, name: str, status: dict) -> dict:
        obj = self._get(kind, namespace, name)
        obj["status"] = {**obj.get("status", {}), **status}
        return self.server.put(obj)
