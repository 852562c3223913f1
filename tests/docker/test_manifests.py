"""The deployment files: the console image, the compose file and the Kubernetes manifests.

Offline checks with no database and no cluster: the manifests against the Kubernetes 1.33
schemas (kubernetes-validate), what the schemas cannot say (security context, limits, the
wiring between the files), and the image's collectstatic step, run in a subprocess as the
Dockerfile runs it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
KUBERNETES = DOCKER / "kubernetes"
KUBERNETES_VERSION = "1.33"
NAMESPACE = "mlplatform"
CONSOLE_IMAGE = "ghcr.io/mlplatform/console"
SECRET = "mlplatform-secrets"
CONFIGMAP = "mlplatform-config"
CONSOLE_SERVICES = ("migrate", "web", "worker", "beat")

MANIFEST_FILES = sorted(path for path in KUBERNETES.glob("*.yaml") if path.name != "kustomization.yaml")


# --- helpers ----------------------------------------------------------------------------


def _documents(path: Path) -> list[dict]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def _all_documents() -> list[dict]:
    return [doc for path in MANIFEST_FILES for doc in _documents(path)]


def _find(kind: str, name: str) -> dict:
    matches = [d for d in _all_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def _pod_spec(doc: dict) -> dict | None:
    if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if doc["kind"] == "Pod":
        return doc["spec"]
    return None


def _workloads() -> list[dict]:
    return [doc for doc in _all_documents() if _pod_spec(doc) is not None]


def _containers(pod_spec: dict) -> list[dict]:
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


def _console_containers() -> list[tuple[dict, dict, dict]]:
    """(workload, pod spec, container) for each container that runs the console image."""
    return [
        (doc, _pod_spec(doc), container)
        for doc in _workloads()
        for container in _containers(_pod_spec(doc))
        if container["image"].split(":")[0] == CONSOLE_IMAGE
    ]


def _kustomization() -> dict:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    lines = [
        line for line in (DOCKER / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _kind_name(doc: dict) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


# --- Kubernetes: schemas and the kustomization ------------------------------------------


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda path: path.name)
def test_manifest_is_valid_against_the_kubernetes_schemas(path):
    documents = _documents(path)
    errors = []

    for doc in documents:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.path)
            errors.append(f"{_kind_name(doc)} at {where or '(top)'}: {error.message}")

    assert documents, f"{path.name} holds no document"
    assert errors == []


def test_kustomization_lists_every_manifest_and_nothing_else():
    files = {path.name for path in MANIFEST_FILES}

    resources = _kustomization()["resources"]

    assert len(resources) == len(set(resources)), "a resource is listed twice"
    assert set(resources) == files


def test_kustomization_puts_everything_in_the_namespace_and_labels_it():
    kustomization = _kustomization()

    namespaced = [
        d for d in _all_documents() if d["kind"] not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    ]

    assert kustomization["namespace"] == NAMESPACE
    assert kustomization["commonLabels"] == {"app.kubernetes.io/part-of": NAMESPACE}
    assert _find("Namespace", NAMESPACE)
    assert {d["metadata"].get("namespace", NAMESPACE) for d in namespaced} == {NAMESPACE}


def test_the_console_image_is_named_once_and_tagged_by_kustomize():
    images = {image["name"]: image for image in _kustomization()["images"]}

    references = {container["image"] for _, _, container in _console_containers()}

    assert images[CONSOLE_IMAGE]["newTag"] == "latest"
    # No tag in the workloads: `images:` is the one place that picks the release.
    assert references == {CONSOLE_IMAGE}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_valid_objects_with_the_tagged_image():
    result = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
    assert len(built) == len(_all_documents())
    errors = []
    for doc in built:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{_kind_name(doc)}: {error.message}")
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == NAMESPACE
    assert errors == []
    console_images = {
        container["image"]
        for doc in built
        if _pod_spec(doc) is not None
        for container in _containers(_pod_spec(doc))
        if container["image"].startswith(CONSOLE_IMAGE)
    }
    assert console_images == {f"{CONSOLE_IMAGE}:latest"}


# --- Kubernetes: workloads ----------------------------------------------------------------


def test_every_container_is_limited_and_unprivileged():
    workloads = _workloads()
    problems = []

    for doc in workloads:
        pod_spec = _pod_spec(doc)
        pod_security = pod_spec.get("securityContext", {})
        for container in _containers(pod_spec):
            where = f"{_kind_name(doc)} container {container['name']}"
            security = container.get("securityContext", {})
            limits = container.get("resources", {}).get("limits", {})
            requests = container.get("resources", {}).get("requests", {})
            if not {"cpu", "memory"} <= limits.keys():
                problems.append(f"{where}: resources.limits needs cpu and memory")
            if not {"cpu", "memory"} <= requests.keys():
                problems.append(f"{where}: resources.requests needs cpu and memory")
            if security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if security.get("runAsUser", pod_security.get("runAsUser")) in (None, 0):
                problems.append(f"{where}: runs as uid 0 or the image's user")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities do not drop ALL")
            if security.get("capabilities", {}).get("add"):
                problems.append(f"{where}: adds capabilities")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: the root filesystem is writable")
            seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile is not RuntimeDefault")

    assert {_kind_name(doc) for doc in workloads} == {
        "Deployment/web",
        "Deployment/worker",
        "Deployment/beat",
        "Deployment/redis",
        "Job/migrate",
    }
    assert problems == []


def test_console_containers_run_as_the_image_user_with_writable_data_and_tmp():
    console = _console_containers()

    assert len(console) == 4
    for doc, pod_spec, container in console:
        volumes = {volume["name"]: volume for volume in pod_spec.get("volumes", [])}
        mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
        assert container["securityContext"]["runAsUser"] == 10001, _kind_name(doc)
        for path in ("/data", "/tmp"):
            assert path in mounts, f"{_kind_name(doc)}: nothing mounted at {path}"
            assert "emptyDir" in volumes[mounts[path]], f"{_kind_name(doc)}: {path} is not an emptyDir"


def test_console_containers_read_the_configmap_and_the_secret_that_is_not_shipped():
    configmap = _find("ConfigMap", CONFIGMAP)

    sources = [container.get("envFrom", []) for _, _, container in _console_containers()]

    assert configmap["data"] == {
        "REDIS_URL": "redis://redis:6379/0",
        "LOG_FORMAT": "json",
        "DJANGO_ALLOWED_HOSTS": "*",
        "DATA_DIR": "/data",
    }
    for env_from in sources:
        assert {"configMapRef": {"name": CONFIGMAP}} in env_from
        assert {"secretRef": {"name": SECRET}} in env_from
    # The secret is created by hand (README.md); a manifest would put its values in git.
    assert not [doc for doc in _all_documents() if doc["kind"] == "Secret"]
    assert f"kubectl -n {NAMESPACE} create secret generic {SECRET}" in (KUBERNETES / "README.md").read_text()


def test_web_runs_two_replicas_probed_on_healthz_behind_port_80():
    web = _find("Deployment", "web")
    service = _find("Service", "web")

    container = web["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert web["spec"]["replicas"] == 2
    assert ports == {"http": 8000}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
        assert ports[container[probe]["httpGet"]["port"]] == 8000
    assert [(p["port"], ports[p["targetPort"]]) for p in service["spec"]["ports"]] == [(80, 8000)]


def test_each_service_selects_a_workload_and_targets_one_of_its_ports():
    services = [doc for doc in _all_documents() if doc["kind"] == "Service"]

    for service in services:
        selector = service["spec"]["selector"].items()
        selected = [
            doc for doc in _workloads() if selector <= doc["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, f"{_kind_name(service)} selects {len(selected)} workloads"
        pod_spec = _pod_spec(selected[0])
        port_names = {p["name"] for c in pod_spec["containers"] for p in c.get("ports", []) if "name" in p}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{_kind_name(service)} port {port['targetPort']}"
        # A Deployment's selector must match its own pods, or the API server refuses it.
        workload = selected[0]
        assert (
            workload["spec"]["selector"]["matchLabels"].items()
            <= workload["spec"]["template"]["metadata"]["labels"].items()
        )
    assert sorted(s["metadata"]["name"] for s in services) == ["redis", "web"]


def test_redis_url_points_at_the_redis_service():
    url = _find("ConfigMap", CONFIGMAP)["data"]["REDIS_URL"]
    service = _find("Service", "redis")

    host, port = re.fullmatch(r"redis://([^:/]+):(\d+)/\d+", url).groups()

    assert host == service["metadata"]["name"]
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    assert _find("Deployment", "redis")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 999


def test_beat_runs_alone_and_keeps_its_schedule_in_tmp():
    beat = _find("Deployment", "beat")

    command = beat["spec"]["template"]["spec"]["containers"][0]["command"]

    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert command[:4] == ["celery", "-A", "mlplatform", "beat"]
    assert command[command.index("--schedule") + 1] == "/tmp/celerybeat-schedule"


def test_worker_and_migrate_run_their_commands():
    worker = _find("Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
    migrate = _find("Job", "migrate")["spec"]["template"]["spec"]

    assert worker["command"][:4] == ["celery", "-A", "mlplatform", "worker"]
    assert migrate["containers"][0]["command"][:3] == ["python", "manage.py", "migrate"]
    assert migrate["restartPolicy"] == "Never"


def test_the_console_service_account_is_bound_to_the_cluster_role_it_needs():
    role = _find("ClusterRole", "mlplatform-console")
    binding = _find("ClusterRoleBinding", "mlplatform-console")
    account = _find("ServiceAccount", "mlplatform-console")

    granted = {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }

    manage = {"create", "get", "list", "watch", "patch", "delete"}
    for resource in ("namespaces", "services", "secrets", "persistentvolumeclaims", "pods", "configmaps"):
        assert granted[("", resource)] >= manage, resource
    assert granted[("batch", "jobs")] >= manage
    assert granted[("apps", "deployments")] >= manage
    assert granted[("apps", "statefulsets")] >= manage
    assert granted[("autoscaling", "horizontalpodautoscalers")] >= manage
    assert "get" in granted[("", "pods/log")]
    assert granted[("", "events")] >= {"list", "watch"}
    assert granted[("apiextensions.k8s.io", "customresourcedefinitions")] == {"get", "list"}
    assert not any("*" in key or "*" in verbs for key, verbs in granted.items())
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    for doc, pod_spec, _ in _console_containers():
        assert pod_spec["serviceAccountName"] == account["metadata"]["name"], _kind_name(doc)


# --- compose ------------------------------------------------------------------------------


def test_compose_runs_the_console_with_postgres_and_redis():
    services = _compose()["services"]

    assert set(services) >= {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert services["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["redis"]["image"] == "redis:7"
    assert services["web"]["ports"] == ["8000:8000"]


def test_compose_builds_one_console_image_from_the_repository_root():
    services = _compose()["services"]

    builds = {name: (services[name]["image"], services[name]["build"]) for name in CONSOLE_SERVICES}

    assert len({repr(build) for build in builds.values()}) == 1, builds
    image, build = builds["web"]
    assert image.startswith(CONSOLE_IMAGE)
    assert (DOCKER / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_compose_console_services_share_the_environment_and_run_their_commands():
    compose = _compose()
    services = compose["services"]

    environments = {name: services[name]["environment"] for name in CONSOLE_SERVICES}

    assert compose["x-env"] == {
        "DATABASE_URL": "postgres://mlplatform:mlplatform@postgres:5432/mlplatform",
        "REDIS_URL": "redis://redis:6379/0",
        "DJANGO_SECRET_KEY": "${DJANGO_SECRET_KEY:?set DJANGO_SECRET_KEY}",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,web",
        "DATA_DIR": "/data",
        "LOG_FORMAT": "json",
    }
    for name, environment in environments.items():
        assert environment.items() >= compose["x-env"].items(), name
    assert "python manage.py migrate" in " ".join(services["migrate"]["command"])
    assert "python manage.py bootstrap" in " ".join(services["migrate"]["command"])
    assert "command" not in services["web"]  # the image's uvicorn
    assert services["worker"]["command"] == ["celery", "-A", "mlplatform", "worker", "--loglevel", "INFO"]
    assert services["beat"]["command"] == [
        "celery",
        "-A",
        "mlplatform",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        "/tmp/celerybeat-schedule",
    ]


def test_compose_starts_each_console_service_after_what_it_needs():
    services = _compose()["services"]

    depends = {name: services[name]["depends_on"] for name in CONSOLE_SERVICES}

    for name, needs in depends.items():
        assert isinstance(needs, dict), f"{name}: depends_on without conditions"
        for dependency, condition in needs.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    assert depends["migrate"]["postgres"] == {"condition": "service_healthy"}
    for name in ("web", "worker", "beat"):
        assert depends[name]["migrate"] == {"condition": "service_completed_successfully"}
        assert depends[name]["redis"] == {"condition": "service_healthy"}


# --- the Dockerfile -----------------------------------------------------------------------


def test_dockerfile_installs_the_pinned_requirements_on_python_311_slim():
    instructions = _dockerfile()

    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    copies = [arguments for keyword, arguments in instructions if keyword == "COPY"]

    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert "pip install --no-cache-dir -r requirements.lock" in runs
    assert any(shlex.split(copy)[0] == "requirements.lock" for copy in copies)
    assert (ROOT / "requirements.lock").read_text().strip(), "requirements.lock is missing or empty"


def test_dockerfile_runs_as_a_non_root_user():
    instructions = _dockerfile()

    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    last_user = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "USER")

    assert users, "no USER instruction: the console would run as root"
    assert last_user > last_from
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user == "10001"


def test_dockerfile_serves_the_asgi_app_on_8000_with_a_healthcheck():
    instructions = dict(_dockerfile())

    assert instructions["EXPOSE"] == "8000"
    assert json.loads(instructions["CMD"]) == [
        "uvicorn",
        "mlplatform.asgi:application",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--proxy-headers",
        "--ws",
        "websockets",
        "--ws-per-message-deflate",
        "false",
    ]
    assert "/healthz" in instructions["HEALTHCHECK"]
    assert "curl" not in instructions["HEALTHCHECK"]


def test_dockerfile_copies_every_app_and_not_the_whole_checkout():
    copies = [shlex.split(arguments) for keyword, arguments in _dockerfile() if keyword == "COPY"]
    sources = {source.rstrip("/") for copy in copies for source in copy[:-1] if not source.startswith("--")}

    packages = {
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file() and path.name not in {"tests", "benchmarks"}
    }

    assert "." not in sources, "COPY . would bring .venv/, data/ and .git/ into the image"
    assert packages, "found no Python package at the repository root"
    assert sources >= packages | {"manage.py", "templates", "static"}
    assert {source for source in sources if not (ROOT / source).exists()} == set()


def test_the_dockerfile_collectstatic_step_succeeds(tmp_path):
    # Given the image's environment and the inline variables of the collectstatic RUN line,
    instructions = _dockerfile()
    environment = {}
    for keyword, arguments in instructions:
        if keyword == "ENV":
            environment.update(pair.split("=", 1) for pair in shlex.split(arguments))
    step = next(shlex.split(a) for k, a in instructions if k == "RUN" and "collectstatic" in a)
    while "=" in step[0]:
        name, value = step.pop(0).split("=", 1)
        environment[name] = value
    assert step[:4] == ["python", "manage.py", "collectstatic", "--noinput"]
    assert environment["STATIC_COLLECTED"] == "true"
    # with the folders and the throwaway database moved under tmp_path,
    environment |= {
        "DATA_DIR": str(tmp_path / "data"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'build.sqlite3'}",
    }

    # when it runs,
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # then the hashed, compressed files and their manifest are there for WhiteNoise.
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "static" / "staticfiles.json").is_file()
