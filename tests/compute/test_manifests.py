"""The Kubernetes manifest builders: pure functions, no cluster and no database.

Every object is checked against the Kubernetes 1.33 schemas (kubernetes-validate); the tests
then check what the schemas cannot say: names, labels, owner references, where secret values
may appear, security contexts, and how replicas find each other.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import kubernetes_validate
import pytest

from mlplatform.compute.backends.base import (
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    LABEL_ROLE,
    LABEL_WORKLOAD,
    MANAGED_BY,
    FlavorInfo,
    Wiring,
    WorkloadRef,
)
from mlplatform.compute.backends.kubernetes import manifests
from mlplatform.compute.backends.kubernetes.manifests import (
    namespace,
    owner_reference,
    root,
    secret,
    workload_objects,
)
from mlplatform.compute.spec import (
    DNS_LABEL,
    ExitCodeAction,
    ExitCodeRule,
    FailurePolicy,
    LocalRun,
    ReplicaGroup,
    Resources,
    SecretRef,
    Volume,
    WorkloadKind,
    WorkloadSpec,
)

KUBERNETES_VERSION = "1.33"
WORKLOAD_ID = "0123456789abcdef0123456789abcdef"
ROOT_UID = "5b0e3c0e-8f3a-4c4e-9a51-6a1f0c2d7e10"
SECRET_KEY_VALUE = "s3cr3t-access-key-value"
SECRET_FILE_VALUE = '{"private_key": "-----BEGIN PRIVATE KEY-----abc"}'
GPU = FlavorInfo(
    name="a100",
    resource_name="nvidia.com/gpu",
    node_selector={"mlplatform.io/flavor": "a100"},
    tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
)
FLAVORS = {"cpu": FlavorInfo(name="cpu"), "a100": GPU}
WIRING = Wiring(
    env={"AWS_ENDPOINT_URL": "http://minio.storage:9000"},
    secret_env={"AWS_SECRET_ACCESS_KEY": SECRET_KEY_VALUE},
    files={"gcs-key.json": SECRET_FILE_VALUE},
)
NO_WIRING = Wiring()


# --- specs ---------------------------------------------------------------------------------


def training(name: str = "mnist", *, worker_role: str = "worker", workers: int = 3) -> WorkloadSpec:
    tf_config = '{"task": {"type": "$(MLPLATFORM_REPLICA_ROLE)", "index": $(MLPLATFORM_REPLICA_INDEX)}}'
    return WorkloadSpec(
        name=name,
        kind=WorkloadKind.BATCH,
        groups=(
            ReplicaGroup(
                role="chief",
                count=1,
                image="ghcr.io/acme/trainer:1",
                command=("python", "-m", "trainer"),
                args=("--index=$(MLPLATFORM_REPLICA_INDEX)",),
                env={"TF_CONFIG": tf_config},
                ports=(2222,),
            ),
            ReplicaGroup(
                role=worker_role,
                count=workers,
                image="ghcr.io/acme/trainer:1",
                resources=Resources(flavor="a100", gpus=2, cpu=Decimal("7.5"), memory_gib=Decimal("60")),
                secret_env=(SecretRef(env="WANDB_API_KEY", secret="wandb", key="api-key"),),
                volumes=(Volume(name="scratch", mount_path="/scratch", size_gib=100),),
            ),
        ),
        failure_policy=FailurePolicy(
            backoff_limit=2,
            rules=(
                ExitCodeRule(ExitCodeAction.FAIL_JOB, (42, 3)),
                ExitCodeRule(ExitCodeAction.IGNORE, (137,)),
            ),
            max_run_seconds=7200,
            ttl_after_finished_seconds=600,
        ),
    )


def notebook(name: str = "alice-nb") -> WorkloadSpec:
    return WorkloadSpec(
        name=name,
        kind=WorkloadKind.NOTEBOOK,
        groups=(
            ReplicaGroup(
                role="notebook",
                count=1,
                image="quay.io/jupyter/scipy-notebook:2025-01-01",
                resources=Resources(flavor="cpu", cpu=Decimal("0.5"), memory_gib=Decimal("1.5")),
                ports=(8888,),
                readiness_path="/api",
                volumes=(
                    Volume(name="home", mount_path="/home/jovyan", size_gib=10, persistent=True),
                    Volume(name="tmp", mount_path="/tmp"),
                ),
            ),
        ),
    )


def serving(*, max_count: int | None = 5) -> WorkloadSpec:
    return WorkloadSpec(
        name="resnet-v3",
        kind=WorkloadKind.SERVICE,
        groups=(
            ReplicaGroup(
                role="server",
                count=2,
                image="ghcr.io/acme/server:3",
                resources=Resources(flavor="a100", gpus=1),
                ports=(8080, 8081),
                readiness_path="/v1/models/resnet",
                max_count=max_count,
            ),
        ),
    )


# --- helpers -------------------------------------------------------------------------------


def ref_for(spec: WorkloadSpec, workload_id: str = WORKLOAD_ID) -> WorkloadRef:
    return WorkloadRef(id=workload_id, project="team-a", name=spec.name)


def created(obj: dict) -> dict:
    """The object as the API server would answer a create: with a uid."""
    return {**obj, "metadata": {**obj["metadata"], "uid": ROOT_UID}}


def build(spec: WorkloadSpec, wiring: Wiring = WIRING, *, workload_id: str = WORKLOAD_ID) -> list[dict]:
    """Everything the backend would create for `spec`, in order."""
    ref = ref_for(spec, workload_id)
    root_obj = root(ref, spec)
    owner = owner_reference(created(root_obj))
    storage = secret(ref, wiring, owner)
    rest = workload_objects(ref, spec, FLAVORS, wiring, owner)
    return [namespace(ref.project), root_obj, *([storage] if storage else []), *rest]


def schema_errors(objects: list[dict]) -> list[str]:
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']} at {where or '(top)'}: {error.message}")
    return errors


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: list[dict], kind: str) -> dict:
    (obj,) = of_kind(objects, kind)
    return obj


def pod_templates(objects: list[dict]) -> list[dict]:
    return [obj["spec"]["template"] for obj in objects if obj["kind"] in {"Job", "StatefulSet", "Deployment"}]


def containers(objects: list[dict]) -> list[dict]:
    return [c for template in pod_templates(objects) for c in template["spec"]["containers"]]


def env_of(container: dict) -> dict[str, dict]:
    return {var["name"]: var for var in container["env"]}


def env_names(container: dict) -> list[str]:
    return [var["name"] for var in container["env"]]


def job(objects: list[dict], role: str) -> dict:
    (match,) = [obj for obj in of_kind(objects, "Job") if obj["metadata"]["labels"][LABEL_ROLE] == role]
    return match


ALL_SPECS = {
    "training": training(),
    "notebook": notebook(),
    "serving-autoscaled": serving(),
    "serving-fixed": serving(max_count=None),
}


# --- schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL_SPECS.values(), ids=ALL_SPECS)
@pytest.mark.parametrize("wiring", [WIRING, NO_WIRING], ids=["wired", "unwired"])
def test_every_object_matches_the_kubernetes_schema(spec, wiring):
    objects = build(spec, wiring)

    assert schema_errors(objects) == []


# --- labels, owners, names ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL_SPECS.values(), ids=ALL_SPECS)
def test_a_run_after_an_eviction_has_names_and_selectors_of_its_own(spec):
    # Given the workload's third run (evicted twice)
    ref = dataclasses.replace(ref_for(spec), generation=2)
    root_obj = root(ref, spec)
    objects = [root_obj, *workload_objects(ref, spec, FLAVORS, WIRING, owner_reference(created(root_obj)))]
    first = {  # persistent volumes (a notebook's home) outlive runs on purpose
        obj["metadata"]["name"] for obj in build(spec)[1:] if obj["kind"] != "PersistentVolumeClaim"
    }
    # Then no object is named like the first run's, each is labelled with its run, every
    # selector picks only this run's pods, and the objects still pass the schema
    runs = [obj for obj in objects if obj["kind"] != "PersistentVolumeClaim"]
    assert first.isdisjoint(obj["metadata"]["name"] for obj in runs)
    assert all(obj["metadata"]["labels"]["mlplatform.io/generation"] == "2" for obj in runs)
    for obj in objects:
        selector = obj.get("spec", {}).get("selector")
        if selector:
            labels = selector.get("matchLabels", selector)
            assert labels["mlplatform.io/generation"] == "2", obj["kind"]
    assert schema_errors(objects) == []


@pytest.mark.parametrize("spec", ALL_SPECS.values(), ids=ALL_SPECS)
def test_every_object_is_labelled_and_owned_by_the_root_except_the_namespace_and_claims(spec):
    ref = ref_for(spec)
    namespace_obj, root_obj, *owned = build(spec)
    expected_owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": ref.key, "uid": ROOT_UID}

    assert namespace_obj["metadata"]["labels"][LABEL_MANAGED_BY] == MANAGED_BY
    assert root_obj["metadata"]["labels"][LABEL_WORKLOAD] == WORKLOAD_ID
    for obj in owned:
        labels = obj["metadata"]["labels"]
        assert labels[LABEL_MANAGED_BY] == MANAGED_BY
        assert labels[LABEL_PROJECT] == "team-a"
        assert obj["metadata"]["namespace"] == "team-a"
        if obj["kind"] == "PersistentVolumeClaim":
            assert "ownerReferences" not in obj["metadata"]
            assert LABEL_WORKLOAD not in labels
        else:
            assert obj["metadata"]["ownerReferences"] == [expected_owner]
            assert labels[LABEL_WORKLOAD] == WORKLOAD_ID
    for template in pod_templates(owned):
        labels = template["metadata"]["labels"]
        assert labels[LABEL_WORKLOAD] == WORKLOAD_ID
        assert labels[LABEL_PROJECT] == "team-a"
        assert labels[LABEL_MANAGED_BY] == MANAGED_BY
        assert labels[LABEL_ROLE] == template["spec"]["containers"][0]["name"]


def test_namespace_is_the_project_and_enforces_the_restricted_pod_security_standard():
    obj = namespace("team-a")

    assert obj["metadata"]["name"] == "team-a"
    assert obj["metadata"]["labels"][LABEL_PROJECT] == "team-a"
    assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "ownerReferences" not in obj["metadata"]
    assert schema_errors([obj]) == []


def test_root_summarises_the_spec_without_env_values():
    spec = training()
    obj = root(ref_for(spec), spec)

    summary = json.loads(obj["data"]["spec.json"])
    assert obj["metadata"]["name"] == ref_for(spec).key
    assert summary["kind"] == "batch"
    assert summary["replicas"] == 4
    assert [(g["role"], g["count"], g["gpus"]) for g in summary["groups"]] == [
        ("chief", 1, 0),
        ("worker", 3, 2),
    ]
    assert "TF_CONFIG" not in json.dumps(obj)


def test_owner_reference_needs_the_uid_the_api_server_gave_the_root():
    spec = training()

    with pytest.raises(ValueError, match="uid"):
        owner_reference(root(ref_for(spec), spec))


def test_names_are_deterministic():
    assert build(training()) == build(training())
    assert build(notebook()) == build(notebook())


def test_batch_names_leave_room_for_every_pod_hostname_even_for_long_names():
    long_name = "a" * 63
    roles = ["worker-" + "x" * 50, "worker-" + "x" * 50 + "y"]
    spec = WorkloadSpec(
        name=long_name,
        kind=WorkloadKind.BATCH,
        groups=tuple(ReplicaGroup(role=role, count=1000, image="busybox") for role in roles),
    )
    objects = build(spec, NO_WIRING)

    jobs = of_kind(objects, "Job")
    subdomain = jobs[0]["spec"]["template"]["spec"]["subdomain"]
    names = [obj["metadata"]["name"] for obj in jobs]
    assert len(set(names)) == 2
    for name in names:
        hostname = f"{name}-999"
        assert DNS_LABEL.match(hostname)
        assert len(hostname) <= 63
    assert len(subdomain) <= 63
    assert schema_errors(objects) == []


def test_a_notebook_stateful_set_name_leaves_room_for_its_revision_label():
    group = ReplicaGroup(role="notebook-" + "x" * 40, count=1, image="jupyter", ports=(8888,))
    spec = WorkloadSpec(name="n" * 63, kind=WorkloadKind.NOTEBOOK, groups=(group,))
    objects = build(spec, NO_WIRING)

    name = one(objects, "StatefulSet")["metadata"]["name"]
    # Its pods carry the label "controller-revision-hash: {name}-{10-character hash}".
    assert len(f"{name}-0123456789") <= 63
    assert DNS_LABEL.match(name)
    assert schema_errors(objects) == []


def test_a_spec_name_starting_with_a_digit_still_gives_a_valid_service_name():
    spec = WorkloadSpec(
        name="3d-unet",
        kind=WorkloadKind.BATCH,
        groups=(ReplicaGroup(role="worker", count=2, image="busybox"),),
    )
    objects = build(spec, NO_WIRING)

    service = one(objects, "Service")["metadata"]["name"]
    assert service[0].isalpha()
    assert job(objects, "worker")["spec"]["template"]["spec"]["subdomain"] == service
    cluster = json.loads(env_of(containers(objects)[0])["MLPLATFORM_CLUSTER"]["value"])
    assert all(address.split(":")[0].endswith(f".{service}") for address in cluster["worker"])


# --- batch -----------------------------------------------------------------------------------


def test_batch_makes_one_indexed_job_per_group_and_a_headless_service():
    spec = training()
    key = ref_for(spec).key
    objects = build(spec)

    service = one(objects, "Service")
    assert service["metadata"]["name"] == key
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {LABEL_WORKLOAD: WORKLOAD_ID}
    assert [obj["metadata"]["name"] for obj in of_kind(objects, "Job")] == [f"{key}-chief", f"{key}-worker"]
    worker = job(objects, "worker")["spec"]
    assert worker["completionMode"] == "Indexed"
    assert worker["completions"] == worker["parallelism"] == 3
    assert worker["template"]["spec"]["restartPolicy"] == "Never"
    assert worker["template"]["spec"]["subdomain"] == key
    assert [obj["kind"] for obj in objects].index("Service") < [obj["kind"] for obj in objects].index("Job")


def test_replicas_find_each_other_by_their_pod_dns_names():
    spec = training()
    key = ref_for(spec).key
    objects = build(spec)

    cluster = json.loads(env_of(containers(objects)[0])["MLPLATFORM_CLUSTER"]["value"])
    assert cluster == {
        "chief": [f"{key}-chief-0.{key}:2222"],
        "worker": [f"{key}-worker-{i}.{key}:2222" for i in range(3)],
    }
    # An Indexed Job's pod hostname is "{job}-{index}", under the pod's subdomain.
    hostnames = {
        f"{obj['metadata']['name']}-0.{obj['spec']['template']['spec']['subdomain']}:2222"
        for obj in of_kind(objects, "Job")
    }
    assert hostnames == {cluster["chief"][0], cluster["worker"][0]}


def test_the_replica_index_comes_from_the_job_completion_index():
    objects = build(training())

    for container in containers(objects):
        index = env_of(container)["MLPLATFORM_REPLICA_INDEX"]
        field = index["valueFrom"]["fieldRef"]["fieldPath"]
        assert field == "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def test_injected_env_comes_first_so_the_group_env_command_and_args_can_expand_it():
    objects = build(training())
    chief = job(objects, "chief")["spec"]["template"]["spec"]["containers"][0]
    names = env_names(chief)

    injected = [
        "MLPLATFORM_WORKLOAD",
        "MLPLATFORM_REPLICA_ROLE",
        "MLPLATFORM_REPLICA_INDEX",
        "MLPLATFORM_CLUSTER",
    ]
    assert names[:4] == injected
    assert names.index("AWS_ENDPOINT_URL") < names.index("TF_CONFIG") < names.index("AWS_SECRET_ACCESS_KEY")
    assert env_of(chief)["MLPLATFORM_WORKLOAD"]["value"] == WORKLOAD_ID
    assert env_of(chief)["MLPLATFORM_REPLICA_ROLE"]["value"] == "chief"
    assert "$(MLPLATFORM_REPLICA_INDEX)" in env_of(chief)["TF_CONFIG"]["value"]
    assert chief["command"] == ["python", "-m", "trainer"]
    assert chief["args"] == ["--index=$(MLPLATFORM_REPLICA_INDEX)"]


def test_what_the_local_backend_runs_instead_of_the_image_stays_out_of_the_pods():
    spec = training()
    local = LocalRun(command=("/opt/venv/bin/python", "-m", "trainer"), env={"ONLY_ON_THIS_MACHINE": "1"})
    groups = tuple(dataclasses.replace(group, local=local) for group in spec.groups)

    objects = build(dataclasses.replace(spec, groups=groups))

    assert schema_errors(objects) == []
    assert objects == build(spec)


def test_exit_code_rules_become_the_pod_failure_policy():
    objects = build(training())

    worker = job(objects, "worker")["spec"]
    assert worker["backoffLimit"] == 2
    assert worker["activeDeadlineSeconds"] == 7200
    assert worker["ttlSecondsAfterFinished"] == 600
    assert worker["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3, 42]}},
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [137]}},
    ]


def test_no_run_time_limit_and_no_ttl_leave_the_job_fields_out():
    spec = WorkloadSpec(
        name="sweep",
        kind=WorkloadKind.BATCH,
        groups=(ReplicaGroup(role="worker", count=1, image="busybox"),),
        failure_policy=FailurePolicy(ttl_after_finished_seconds=None),
    )
    worker = job(build(spec, NO_WIRING), "worker")["spec"]

    assert "activeDeadlineSeconds" not in worker
    assert "ttlSecondsAfterFinished" not in worker


def test_exit_code_zero_is_refused():
    spec = WorkloadSpec(
        name="mnist",
        kind=WorkloadKind.BATCH,
        groups=(ReplicaGroup(role="worker", count=1, image="busybox"),),
        failure_policy=FailurePolicy(rules=(ExitCodeRule(ExitCodeAction.COUNT, (0, 1)),)),
    )

    with pytest.raises(ValueError, match="not 0"):
        build(spec, NO_WIRING)


# --- resources and flavors ---------------------------------------------------------------------


def test_gpus_are_limited_under_the_flavor_resource_name_and_scheduled_on_its_nodes():
    objects = build(training())
    chief = job(objects, "chief")["spec"]["template"]["spec"]
    worker = job(objects, "worker")["spec"]["template"]["spec"]

    resources = worker["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "7.5", "memory": "60Gi"},
        "limits": {"memory": "60Gi", "nvidia.com/gpu": "2"},
    }
    assert worker["nodeSelector"] == {"mlplatform.io/flavor": "a100"}
    assert worker["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert chief["containers"][0]["resources"]["limits"] == {"memory": "2Gi"}
    assert "nodeSelector" not in chief
    assert "tolerations" not in chief


def test_a_flavor_missing_from_the_catalog_is_refused():
    spec = serving()

    with pytest.raises(ValueError, match="flavor 'a100'"):
        workload_objects(ref_for(spec), spec, {"cpu": FLAVORS["cpu"]}, NO_WIRING, None)


def test_gpus_on_a_flavor_without_a_gpu_resource_name_are_refused():
    spec = serving()

    with pytest.raises(ValueError, match="no GPU resource name"):
        workload_objects(ref_for(spec), spec, {"a100": FlavorInfo(name="a100")}, NO_WIRING, None)


# --- secrets and security ----------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL_SPECS.values(), ids=ALL_SPECS)
def test_secret_values_appear_only_in_the_secret(spec):
    objects = build(spec)
    storage = one(objects, "Secret")

    assert storage["stringData"] == {
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY_VALUE,
        "gcs-key.json": SECRET_FILE_VALUE,
    }
    elsewhere = json.dumps([obj for obj in objects if obj is not storage])
    assert SECRET_KEY_VALUE not in elsewhere
    assert json.dumps(SECRET_FILE_VALUE)[1:-1] not in elsewhere
    assert "private_key" not in elsewhere


def test_secret_env_is_referenced_and_storage_files_are_mounted_read_only():
    spec = training()
    key = ref_for(spec).key
    worker = job(build(spec), "worker")["spec"]["template"]["spec"]
    env = env_of(worker["containers"][0])

    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {"secretKeyRef": {"name": f"{key}-storage", "key": "AWS_SECRET_ACCESS_KEY"}},
    }
    assert env["WANDB_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "wandb", "key": "api-key"}
    assert env["AWS_ENDPOINT_URL"]["value"] == "http://minio.storage:9000"
    storage = next(v for v in worker["volumes"] if "secret" in v)
    assert storage["secret"] == {
        "secretName": f"{key}-storage",
        "items": [{"key": "gcs-key.json", "path": "gcs-key.json"}],
    }
    mount = next(m for m in worker["containers"][0]["volumeMounts"] if m["name"] == storage["name"])
    assert mount == {"name": storage["name"], "mountPath": "/var/run/mlplatform/storage", "readOnly": True}


def test_without_secret_wiring_there_is_no_secret_and_nothing_refers_to_one():
    spec = notebook()
    objects = build(spec, Wiring(env={"AWS_ENDPOINT_URL": "http://minio.storage:9000"}))

    assert secret(ref_for(spec), NO_WIRING, None) is None
    assert of_kind(objects, "Secret") == []
    assert "secretKeyRef" not in json.dumps(objects)
    assert '"secret"' not in json.dumps(objects)


@pytest.mark.parametrize("spec", ALL_SPECS.values(), ids=ALL_SPECS)
def test_every_pod_runs_restricted(spec):
    objects = build(spec)

    for template in pod_templates(objects):
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["enableServiceLinks"] is False
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert container["securityContext"].get("privileged", False) is False
    serialized = json.dumps(objects)
    for forbidden in ("hostPath", "hostNetwork", "hostPID", "hostIPC", '"privileged": true'):
        assert forbidden not in serialized


# --- notebooks -------------------------------------------------------------------------------


def test_a_notebook_is_a_stateful_set_with_a_readiness_check_and_a_writable_home():
    spec = notebook()
    key = ref_for(spec).key
    objects = build(spec)

    stateful_set = one(objects, "StatefulSet")
    pod = stateful_set["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert stateful_set["spec"]["replicas"] == 1
    assert stateful_set["spec"]["serviceName"] == one(objects, "Service")["metadata"]["name"] == key
    assert container["readinessProbe"]["httpGet"] == {"path": "/api", "port": 8888}
    assert container["ports"] == [{"name": "port-8888", "containerPort": 8888}]
    assert container["resources"]["requests"] == {"cpu": "0.5", "memory": "1.5Gi"}
    assert pod["securityContext"]["fsGroup"] == 100
    assert one(objects, "Service")["spec"]["ports"] == [
        {"name": "port-8888", "port": 8888, "targetPort": 8888}
    ]


def test_a_notebook_home_is_a_claim_that_outlives_the_workload():
    spec = notebook()
    first = build(spec)
    restarted = build(spec, workload_id="fedcba9876543210fedcba9876543210")

    claim = one(first, "PersistentVolumeClaim")
    assert claim == one(restarted, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "alice-nb-home"
    assert claim["metadata"]["labels"] == {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_PROJECT: "team-a",
        "mlplatform.io/volume-of": "alice-nb",
    }
    assert claim["spec"]["resources"]["requests"] == {"storage": "10Gi"}
    assert [obj["kind"] for obj in first].index("PersistentVolumeClaim") < [
        obj["kind"] for obj in first
    ].index("StatefulSet")


def test_volumes_are_mounted_and_announced_in_the_env():
    objects = build(notebook())
    pod = one(objects, "StatefulSet")["spec"]["template"]["spec"]
    container = pod["containers"][0]

    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["home"]["persistentVolumeClaim"] == {"claimName": "alice-nb-home"}
    assert volumes["tmp"]["emptyDir"] == {}
    assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]} == {
        "home": "/home/jovyan",
        "tmp": "/tmp",
        manifests.STORAGE_VOLUME: "/var/run/mlplatform/storage",
    }
    assert env_of(container)["MLPLATFORM_VOLUME_HOME"]["value"] == "/home/jovyan"
    assert env_of(container)["MLPLATFORM_REPLICA_INDEX"]["value"] == "0"
    scratch = next(
        v for v in job(build(training()), "worker")["spec"]["template"]["spec"]["volumes"] if "emptyDir" in v
    )
    assert scratch["emptyDir"] == {"sizeLimit": "100Gi"}


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        (Volume(name="Home", mount_path="/home/jovyan", size_gib=1, persistent=True), "DNS-1123"),
        (Volume(name="home", mount_path="/home/jovyan", persistent=True), "needs a size"),
    ],
)
def test_volumes_kubernetes_would_refuse_are_refused(volume, message):
    group = ReplicaGroup(role="notebook", count=1, image="jupyter", ports=(8888,), volumes=(volume,))
    spec = WorkloadSpec(name="nb", kind=WorkloadKind.NOTEBOOK, groups=(group,))

    with pytest.raises(ValueError, match=message):
        build(spec, NO_WIRING)


def test_a_readiness_path_without_a_port_is_refused():
    group = ReplicaGroup(role="notebook", count=1, image="jupyter", readiness_path="/api")
    spec = WorkloadSpec(name="nb", kind=WorkloadKind.NOTEBOOK, groups=(group,))

    with pytest.raises(ValueError, match="no port"):
        build(spec, NO_WIRING)


# --- services --------------------------------------------------------------------------------


def test_a_service_is_a_deployment_behind_a_service_that_autoscales_on_cpu():
    spec = serving()
    key = ref_for(spec).key
    objects = build(spec)

    deployment = one(objects, "Deployment")
    autoscaler = one(objects, "HorizontalPodAutoscaler")
    service = one(objects, "Service")
    assert deployment["metadata"]["name"] == f"{key}-server"
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {
        "matchLabels": {LABEL_WORKLOAD: WORKLOAD_ID, LABEL_ROLE: "server"}
    }
    assert "clusterIP" not in service["spec"]
    assert [p["port"] for p in service["spec"]["ports"]] == [8080, 8081]
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{key}-server",
    }
    assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (2, 5)
    assert autoscaler["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
        }
    ]
    cluster = json.loads(
        env_of(deployment["spec"]["template"]["spec"]["containers"][0])["MLPLATFORM_CLUSTER"]["value"]
    )
    assert cluster == {"server": [f"{key}:8080"]}


@pytest.mark.parametrize("max_count", [None, 2])
def test_a_service_that_cannot_grow_has_no_autoscaler(max_count):
    assert of_kind(build(serving(max_count=max_count)), "HorizontalPodAutoscaler") == []
