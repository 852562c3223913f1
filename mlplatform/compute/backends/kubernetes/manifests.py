"""Kubernetes objects for a workload: pure functions from a WorkloadSpec to plain dicts.

No client calls and no Django: the Kubernetes backend creates what these return, in order.
Every object carries the managed-by, workload and project labels and (given `owner`) an owner
reference to the workload's root ConfigMap, so deleting the root removes the rest. Persistent
volume claims are the exception: they outlive the workload (a notebook's home across stop and
start), carry no workload label and are found by project and `mlplatform.io/volume-of` instead.

Names derive from `WorkloadRef.key` alone, so a retried create finds what the first one made:
`{key}` for the root, the Service; `{key}-storage` for the Secret; `{key}-{role}` (shortened
with a hash where a Kubernetes limit requires) for each group's Job, StatefulSet or Deployment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal

from mlplatform.compute.backends.base import (
    LABEL_GENERATION,
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    LABEL_ROLE,
    LABEL_WORKLOAD,
    MANAGED_BY,
    FlavorInfo,
    Wiring,
    WorkloadRef,
)
from mlplatform.compute.replica_env import REPLICA_INDEX, replica_env
from mlplatform.compute.spec import (
    DNS_LABEL,
    FailurePolicy,
    ReplicaGroup,
    Volume,
    WorkloadKind,
    WorkloadSpec,
)

LABEL_VOLUME_OF = "mlplatform.io/volume-of"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
DEFAULT_PORT = 2222  # a replica's address in MLPLATFORM_CLUSTER when its group declares no port
NOTEBOOK_FS_GROUP = 100  # the "users" group of Jupyter images: makes the home volume writable
STORAGE_VOLUME = "mlplatform-storage"
HPA_CPU_UTILIZATION = 70
# Longest name per controller kind: an Indexed Job's pod hostname is "{job}-{index}" (a DNS label,
# room left for "-99999"); a StatefulSet's pods carry the label value "{name}-{10-char hash}".
CONTROLLER_NAME_MAX = {WorkloadKind.BATCH: 57, WorkloadKind.NOTEBOOK: 52, WorkloadKind.SERVICE: 63}


# --- names --------------------------------------------------------------------------------


def service_name(ref: WorkloadRef) -> str:
    """The workload's Service: `ref.key`, prefixed where the key starts with a digit (Service names
    are DNS-1035 labels). Batch pods resolve each other as `{job}-{index}.{service_name}`."""
    return ref.key if ref.key[0].isalpha() else f"w-{ref.key}"


def secret_name(ref: WorkloadRef) -> str:
    return f"{ref.key}-storage"


def group_name(ref: WorkloadRef, kind: WorkloadKind, role: str) -> str:
    """The Job, StatefulSet or Deployment (and HPA) of one replica group: `{ref.key}-{role}`."""
    return _fit(f"{ref.key}-{role}", CONTROLLER_NAME_MAX[kind])


def volume_claim_name(spec_name: str, volume_name: str) -> str:
    """A persistent volume's claim: named after the spec, not the workload, so it is found again."""
    return f"{spec_name}-{volume_name}"


def _fit(name: str, limit: int) -> str:
    """`name`, or where too long its start plus a hash of all of it: stable and still unique."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"


# --- the namespace, the root and the storage secret ----------------------------------------


def namespace(project: str) -> dict:
    """The project's namespace. Pod Security admission enforces what the builders below promise."""
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_PROJECT: project,
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": project, "labels": labels}}


def root(ref: WorkloadRef, spec: WorkloadSpec) -> dict:
    """The ConfigMap every other object of the workload is owned by, with a summary of the spec
    (kind, groups, counts, images and resources; never env values)."""
    summary = {
        "name": spec.name,
        "kind": spec.kind.value,
        "replicas": spec.replicas,
        "groups": [
            {
                "role": group.role,
                "count": group.count,
                "image": group.image,
                "flavor": group.resources.flavor,
                "gpus": group.resources.gpus,
                "cpu": _quantity(group.resources.cpu),
                "memory_gib": _quantity(group.resources.memory_gib),
            }
            for group in spec.groups
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(ref, ref.key, owner=None),
        "data": {"spec.json": json.dumps(summary, sort_keys=True)},
    }


def owner_reference(root_obj: dict) -> dict:
    """An owner reference to the created root (as the API server returned it, with its uid).

    Not a controller reference (a Job's controller stays its own), and without
    blockOwnerDeletion, which clusters enforcing owner-reference permissions would refuse
    unless the platform may update `configmaps/finalizers`. Raises ValueError without a uid.
    """
    metadata = root_obj.get("metadata") or {}
    if not metadata.get("uid"):
        raise ValueError("the root object has no metadata.uid: pass the object the API server returned")
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": metadata["name"], "uid": metadata["uid"]}


def secret(ref: WorkloadRef, wiring: Wiring, owner: dict | None) -> dict | None:
    """The Secret `{ref.key}-storage` with the wiring's secret env and files, or None when the
    wiring has neither. Raises ValueError for a file name that cannot be a Secret key."""
    if not wiring.secret_env and not wiring.files:
        return None
    for file_name in wiring.files:
        if not file_name or file_name in {".", ".."} or not all(c.isalnum() or c in "-._" for c in file_name):
            raise ValueError(f"storage file name '{file_name}' must be letters, digits, '-', '_' or '.'")
    clashes = sorted(set(wiring.secret_env) & set(wiring.files))
    if clashes:
        raise ValueError(f"storage secret env and files share the names {clashes}")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(ref, secret_name(ref), owner),
        "type": "Opaque",
        "stringData": {**wiring.secret_env, **wiring.files},
    }


# --- everything else -----------------------------------------------------------------------


def workload_objects(
    ref: WorkloadRef,
    spec: WorkloadSpec,
    flavors: Mapping[str, FlavorInfo],
    wiring: Wiring,
    owner: dict | None,
) -> list[dict]:
    """The workload's objects after the root and the Secret, in creation order: persistent volume
    claims, the Service, then per replica group an Indexed Job (batch), a StatefulSet (notebook)
    or a Deployment and, when it may grow, a HorizontalPodAutoscaler (service).

    Raises ValueError for a group whose flavor is not in `flavors`, that asks for GPUs of a flavor
    without a GPU resource name, or for a volume, readiness check or exit-code rule Kubernetes
    would refuse.
    """
    templates = [
        (group, _pod_template(ref, spec, group, _flavor(group, flavors), wiring)) for group in spec.groups
    ]
    objects = [_claim(ref, spec, volume) for volume in _persistent_volumes(spec)]
    objects.append(_service(ref, spec, owner))
    if spec.kind == WorkloadKind.BATCH:
        objects += [_job(ref, spec, group, template, owner) for group, template in templates]
    elif spec.kind == WorkloadKind.NOTEBOOK:
        objects += [_stateful_set(ref, group, template, owner) for group, template in templates]
    else:
        objects += [_deployment(ref, group, template, owner) for group, template in templates]
        objects += [_autoscaler(ref, group, owner) for group in spec.groups if _autoscales(group)]
    return objects


def _labels(ref: WorkloadRef, role: str | None = None) -> dict:
    labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_WORKLOAD: ref.id, LABEL_PROJECT: ref.project}
    labels |= _generation(ref)
    if role is not None:
        labels[LABEL_ROLE] = role
    return labels


def _generation(ref: WorkloadRef) -> dict:
    """Runs after an eviction are labelled apart, so selectors never pick an earlier run's pods."""
    return {LABEL_GENERATION: str(ref.generation)} if ref.generation else {}


def of_generation(obj: dict, ref: WorkloadRef) -> bool:
    """Whether a cached object of the workload belongs to this run of it."""
    return (obj["metadata"].get("labels") or {}).get(LABEL_GENERATION, "0") == str(ref.generation)


def _metadata(ref: WorkloadRef, name: str, owner: dict | None, role: str | None = None) -> dict:
    metadata = {"name": name, "namespace": ref.project, "labels": _labels(ref, role)}
    if owner is not None:
        metadata["ownerReferences"] = [dict(owner)]
    return metadata


def object_metadata(ref: WorkloadRef, name: str, owner: dict | None) -> dict:
    """Metadata for another object of the workload (an integration's kind): its labels and owner."""
    return _metadata(ref, name, owner)


def _selector(ref: WorkloadRef, role: str) -> dict:
    return {"matchLabels": {LABEL_WORKLOAD: ref.id, **_generation(ref), LABEL_ROLE: role}}


def _flavor(group: ReplicaGroup, flavors: Mapping[str, FlavorInfo]) -> FlavorInfo:
    name = group.resources.flavor
    flavor = flavors.get(name)
    if flavor is None:
        raise ValueError(f"replica group '{group.role}' uses flavor '{name}', which is not in the catalog")
    if group.resources.gpus > 0 and not flavor.resource_name:
        raise ValueError(
            f"replica group '{group.role}' asks for {group.resources.gpus} GPUs, "
            f"but flavor '{name}' has no GPU resource name"
        )
    return flavor


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _unique(values: Iterable) -> list:
    return list(dict.fromkeys(values))


def _port_name(port: int) -> str:
    return f"port-{port}"


# --- controllers ---------------------------------------------------------------------------


def _job(ref: WorkloadRef, spec: WorkloadSpec, group: ReplicaGroup, template: dict, owner) -> dict:
    policy = spec.failure_policy
    job_spec = {
        "completionMode": "Indexed",
        "completions": group.count,
        "parallelism": group.count,
        "backoffLimit": policy.backoff_limit,
        "podFailurePolicy": _pod_failure_policy(policy),
        "template": template,
    }
    if policy.max_run_seconds is not None:
        job_spec["activeDeadlineSeconds"] = policy.max_run_seconds
    if policy.ttl_after_finished_seconds is not None:
        job_spec["ttlSecondsAfterFinished"] = policy.ttl_after_finished_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(ref, group_name(ref, spec.kind, group.role), owner, group.role),
        "spec": job_spec,
    }


def _pod_failure_policy(policy: FailurePolicy) -> dict:
    # A pod evicted or preempted (DisruptionTarget) is retried without counting as a failure.
    rules = [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    for rule in policy.rules:
        codes = sorted(set(rule.exit_codes))
        if not codes or 0 in codes:
            raise ValueError(f"exit-code rule '{rule.action.value}' needs exit codes, and not 0 (success)")
        rules.append({"action": rule.action.value, "onExitCodes": {"operator": "In", "values": codes}})
    return {"rules": rules}


def _stateful_set(ref: WorkloadRef, group: ReplicaGroup, template: dict, owner) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(ref, group_name(ref, WorkloadKind.NOTEBOOK, group.role), owner, group.role),
        "spec": {
            "replicas": group.count,
            "serviceName": service_name(ref),
            "selector": _selector(ref, group.role),
            "template": template,
        },
    }


def _deployment(ref: WorkloadRef, group: ReplicaGroup, template: dict, owner) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(ref, group_name(ref, WorkloadKind.SERVICE, group.role), owner, group.role),
        "spec": {"replicas": group.count, "selector": _selector(ref, group.role), "template": template},
    }


def _autoscales(group: ReplicaGroup) -> bool:
    return group.max_count is not None and group.max_count > group.count


def _autoscaler(ref: WorkloadRef, group: ReplicaGroup, owner) -> dict:
    name = group_name(ref, WorkloadKind.SERVICE, group.role)
    cpu = {"type": "Utilization", "averageUtilization": HPA_CPU_UTILIZATION}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(ref, name, owner, group.role),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": group.count,
            "maxReplicas": group.max_count,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": cpu}}],
        },
    }


def _service(ref: WorkloadRef, spec: WorkloadSpec, owner) -> dict:
    """Headless for batch (stable per-pod DNS names for peers, ready or not) and wherever there is
    no port to balance; otherwise a ClusterIP Service on every port of the workload."""
    ports = _unique(port for group in spec.groups for port in group.ports)
    service_spec: dict = {"selector": {LABEL_WORKLOAD: ref.id, **_generation(ref)}}
    if ports:
        service_spec["ports"] = [{"name": _port_name(p), "port": p, "targetPort": p} for p in ports]
    if spec.kind == WorkloadKind.BATCH or not ports:
        service_spec |= {"clusterIP": "None", "publishNotReadyAddresses": True}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(ref, service_name(ref), owner),
        "spec": service_spec,
    }


def _cluster(ref: WorkloadRef, spec: WorkloadSpec) -> str:
    """MLPLATFORM_CLUSTER: {role: ["host:port", ...]}. Batch replicas by their pod DNS names, one
    per index; other kinds by the workload's Service, once per group."""
    service = service_name(ref)
    addresses = {}
    for group in spec.groups:
        port = group.ports[0] if group.ports else DEFAULT_PORT
        if spec.kind == WorkloadKind.BATCH:
            job = group_name(ref, spec.kind, group.role)
            hosts = [f"{job}-{index}.{service}" for index in range(group.count)]
        else:
            hosts = [service]
        addresses[group.role] = [f"{host}:{port}" for host in hosts]
    return json.dumps(addresses, separators=(",", ":"))


# --- pods ----------------------------------------------------------------------------------


def _pod_template(
    ref: WorkloadRef, spec: WorkloadSpec, group: ReplicaGroup, flavor: FlavorInfo, wiring: Wiring
) -> dict:
    security: dict = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if spec.kind == WorkloadKind.NOTEBOOK:
        security |= {"fsGroup": NOTEBOOK_FS_GROUP, "fsGroupChangePolicy": "OnRootMismatch"}
    pod: dict = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": security,
        "containers": [_container(ref, spec, group, flavor, wiring)],
    }
    if spec.kind == WorkloadKind.BATCH:
        pod |= {"restartPolicy": "Never", "subdomain": service_name(ref)}
    volumes = [_pod_volume(spec, volume) for volume in group.volumes]
    if wiring.files:
        items = [{"key": file_name, "path": file_name} for file_name in wiring.files]
        volumes.append({"name": STORAGE_VOLUME, "secret": {"secretName": secret_name(ref), "items": items}})
    if volumes:
        pod["volumes"] = volumes
    if flavor.node_selector:
        pod["nodeSelector"] = dict(flavor.node_selector)
    if flavor.tolerations:
        pod["tolerations"] = [dict(toleration) for toleration in flavor.tolerations]
    return {"metadata": {"labels": _labels(ref, group.role)}, "spec": pod}


def _container(
    ref: WorkloadRef, spec: WorkloadSpec, group: ReplicaGroup, flavor: FlavorInfo, wiring: Wiring
) -> dict:
    container: dict = {
        "name": group.role,
        "image": group.image,
        "env": _env(ref, spec, group, wiring),
        "resources": _resources(group, flavor),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if group.command:
        container["command"] = list(group.command)
    if group.args:
        container["args"] = list(group.args)
    ports = _unique(group.ports)
    if ports:
        container["ports"] = [{"name": _port_name(p), "containerPort": p} for p in ports]
    if group.readiness_path:
        if not ports:
            raise ValueError(f"replica group '{group.role}' has a readiness path but no port to check it on")
        probe = {"path": group.readiness_path, "port": ports[0]}
        container["readinessProbe"] = {"httpGet": probe, "periodSeconds": 5}
    mounts = [{"name": volume.name, "mountPath": volume.mount_path} for volume in group.volumes]
    if wiring.files:
        mounts.append({"name": STORAGE_VOLUME, "mountPath": wiring.files_dir, "readOnly": True})
    if mounts:
        container["volumeMounts"] = mounts
    return container


def _resources(group: ReplicaGroup, flavor: FlavorInfo) -> dict:
    """CPU and memory requested, memory limited (no CPU limit: no throttling); GPUs, being extended
    resources, are set as limits and Kubernetes requests as many."""
    resources = group.resources
    memory = f"{_quantity(resources.memory_gib)}Gi"
    limits = {"memory": memory}
    if resources.gpus > 0:
        limits[flavor.resource_name] = str(resources.gpus)
    return {"requests": {"cpu": _quantity(resources.cpu), "memory": memory}, "limits": limits}


def _env(ref: WorkloadRef, spec: WorkloadSpec, group: ReplicaGroup, wiring: Wiring) -> list[dict]:
    """Injected variables first (replica_env), so the group's env, command and args can use them as
    `$(NAME)`; secret values last and only as references to a Secret."""
    injected = replica_env(
        workload=ref.id,
        role=group.role,
        index=0,  # a batch pod's own comes from its Job completion index
        cluster=_cluster(ref, spec),
        port=group.ports[0] if group.ports else DEFAULT_PORT,
        volumes={volume.name: volume.mount_path for volume in group.volumes},
    )
    secrets = [(name, secret_name(ref), name) for name in wiring.secret_env]
    secrets += [(secret_ref.env, secret_ref.secret, secret_ref.key) for secret_ref in group.secret_env]
    return [
        # The group's own value wins over the storage wiring's (one entry per name).
        *(_env_var(spec, name, value) for name, value in {**injected, **wiring.env, **group.env}.items()),
        *(
            {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for name, secret, key in secrets
        ),
    ]


def _env_var(spec: WorkloadSpec, name: str, value: str) -> dict:
    if name == REPLICA_INDEX and spec.kind == WorkloadKind.BATCH:
        field_path = f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}
    return {"name": name, "value": value}


def _pod_volume(spec: WorkloadSpec, volume: Volume) -> dict:
    if not DNS_LABEL.match(volume.name) or len(volume.name) > 63 or volume.name == STORAGE_VOLUME:
        raise ValueError(f"volume name '{volume.name}' must be a DNS-1123 label, not '{STORAGE_VOLUME}'")
    if volume.persistent:
        claim = volume_claim_name(spec.name, volume.name)
        return {"name": volume.name, "persistentVolumeClaim": {"claimName": claim}}
    return {"name": volume.name, "emptyDir": {"sizeLimit": f"{volume.size_gib}Gi"} if volume.size_gib else {}}


def _persistent_volumes(spec: WorkloadSpec) -> list[Volume]:
    """Each persistent volume once, even where several groups mount it."""
    volumes = {v.name: v for group in spec.groups for v in group.volumes if v.persistent}
    return list(volumes.values())


def _claim(ref: WorkloadRef, spec: WorkloadSpec, volume: Volume) -> dict:
    """A persistent volume's claim: no owner reference and no workload label, so neither deleting
    the workload nor collecting its garbage removes it."""
    if volume.size_gib <= 0:
        raise ValueError(f"persistent volume '{volume.name}' needs a size (size_gib > 0)")
    name = volume_claim_name(spec.name, volume.name)
    labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_PROJECT: ref.project, LABEL_VOLUME_OF: spec.name}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": ref.project, "labels": labels},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{volume.size_gib}Gi"}},
        },
    }
