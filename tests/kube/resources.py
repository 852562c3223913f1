"""What the test server serves (its API resources) and how it refuses (ApiError, as a Status)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    has_status: bool = True  # a status subresource: the main resource cannot change status

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)


BUILTIN_RESOURCES = (
    ApiResource("", "v1", "namespaces", "Namespace", namespaced=False),
    ApiResource("", "v1", "configmaps", "ConfigMap", has_status=False),
    ApiResource("", "v1", "secrets", "Secret", has_status=False),
    ApiResource("", "v1", "services", "Service"),
    ApiResource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    ApiResource("", "v1", "pods", "Pod"),
    ApiResource("", "v1", "events", "Event", has_status=False),
    ApiResource("batch", "v1", "jobs", "Job"),
    ApiResource("apps", "v1", "statefulsets", "StatefulSet"),
    ApiResource("apps", "v1", "deployments", "Deployment"),
    ApiResource("apps", "v1", "replicasets", "ReplicaSet"),
    ApiResource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
)

# What the optional integrations serve, for `add_api_group(*OPTIONAL_GROUPS["kueue"])`.
OPTIONAL_GROUPS = {
    "kueue": ("kueue.x-k8s.io", "v1beta1", {"workloads": "Workload", "localqueues": "LocalQueue"}),
    "jobset": ("jobset.x-k8s.io", "v1alpha2", {"jobsets": "JobSet"}),
    "kubeflow": ("kubeflow.org", "v1", {"pytorchjobs": "PyTorchJob", "tfjobs": "TFJob"}),
    "kserve": ("serving.kserve.io", "v1beta1", {"inferenceservices": "InferenceService"}),
    "mpijob": ("kubeflow.org", "v2beta1", {"mpijobs": "MPIJob"}),
    "coscheduling": ("scheduling.x-k8s.io", "v1alpha1", {"podgroups": "PodGroup"}),
    "metrics": ("metrics.k8s.io", "v1beta1", {"pods": "PodMetrics"}),  # metrics-server's
}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def status(self) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
        }


def not_found(resource: ApiResource, name: str) -> ApiError:
    what = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
    return ApiError(404, "NotFound", f'{what} "{name}" not found')


def gone(since: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {since}")


def unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Target:
    resource: ApiResource
    namespace: str  # "" for cluster-scoped objects and for lists across namespaces
    name: str
    subresource: str
