"""A real Kubernetes control plane on this machine, from the binaries `build.sh` builds: etcd, the
API server (a static admin token, RBAC, default admission), the controller manager, the scheduler
and kwok, which plays the kubelets of fake nodes (a CPU node and one 8-GPU node per GPU flavor of
the catalog, with its `nvidia.com/gpu.product` label and `nvidia.com/gpu` taint) and runs pods
through the Stages of `kwok.yaml`.

Every process listens on 127.0.0.1 on a port free at start, keeps its state and log under one
directory, and is stopped (its whole process group) on `stop()`.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mlplatform.quotas.catalog import FLAVORS, GPU_TOLERATION

HERE = Path(__file__).parent
BUILD = HERE / "build.sh"
STAGES = HERE / "kwok.yaml"
TOKEN = "mlplatform-test-admin"
GPUS_PER_NODE = 8
# What the platform's workloads need (and the service accounts and the CA configmap pods need); the
# rest (cloud, volumes, certificates, HPA without a metrics API, ...) stays off.
CONTROLLERS = (
    "job-controller,ttl-after-finished-controller,statefulset-controller,deployment-controller,"
    "replicaset-controller,endpointslice-controller,endpointslice-mirroring-controller,"
    "namespace-controller,garbage-collector-controller,node-lifecycle-controller,"
    "serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,"
    "pod-garbage-collector-controller"
)


NO_GO = 3  # build.sh's exit status where Go is missing


class ControlPlaneError(RuntimeError):
    """A binary could not be built or a component did not come up (its log's tail says why)."""


class GoMissing(ControlPlaneError):
    """The binaries are not built and there is no Go to build them."""


def build_binaries() -> Path:
    """The bin directory with the five binaries, built by build.sh unless they are in its cache
    already. Raises GoMissing without Go, ControlPlaneError where the build fails."""
    result = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True)
    if result.returncode == NO_GO:
        raise GoMissing(
            "the real control plane needs Go 1.26 or newer on PATH to build (tests/cluster/build.sh)"
        )
    if result.returncode != 0:
        raise ControlPlaneError(f"tests/cluster/build.sh failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gpu_nodes() -> list[dict]:
    """A Node per GPU flavor (named after it) and one CPU node, as kwok will run them."""
    nodes = [_node("cpu-0", {}, [], {"cpu": "64", "memory": "256Gi"})]
    for name, _title, product, _memory, cpu, memory, _price in FLAVORS:
        taints = [{"key": t["key"], "value": "present", "effect": t["effect"]} for t in GPU_TOLERATION]
        capacity = {
            "cpu": str(cpu * GPUS_PER_NODE),
            "memory": f"{memory * GPUS_PER_NODE}Gi",
            "nvidia.com/gpu": str(GPUS_PER_NODE),
        }
        nodes.append(_node(f"{name}-0", {"nvidia.com/gpu.product": product}, taints, capacity))
    return nodes


def _node(name: str, labels: dict, taints: list[dict], capacity: dict) -> dict:
    resources = {**capacity, "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **labels,
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {"taints": taints} if taints else {},
        "status": {"capacity": resources, "allocatable": resources},
    }


class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok under `workdir`;
    `kubeconfig` names the API server (as an admin) once `start()` returns."""

    def __init__(self, bin_dir: Path, workdir: Path):
        self.bin = bin_dir
        self.dir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self.ca_file = workdir / "ca.crt"
        self.port = 0
        self.etcd_port = 0
        self.started_seconds = 0.0
        self._processes: list[tuple[str, subprocess.Popen]] = []

    def __enter__(self) -> ControlPlane:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start every component and wait until the fake nodes are Ready. Raises ControlPlaneError
        naming the component that did not come up and the end of its log."""
        began = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_credentials()
        self.etcd_port, peer_port = free_port(), free_port()
        etcd_port = self.etcd_port
        self.port = free_port()
        self._spawn(
            "etcd",
            f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        )
        self._spawn(
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",  # without a default route it finds no address otherwise
            f"--secure-port={self.port}",
            f"--tls-cert-file={self.dir / 'serving.crt'}",
            f"--tls-private-key-file={self.dir / 'serving.key'}",
            f"--client-ca-file={self.ca_file}",
            f"--token-auth-file={self.dir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.dir / 'sa.key'}",
            f"--service-account-signing-key-file={self.dir / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            # Secrets are watched from etcd itself, so that compact_etcd() makes their older
            # resourceVersions answer 410 Gone at once (the watch cache keeps them for minutes).
            "--watch-cache-sizes=secrets#0",
        )
        self._wait("kube-apiserver", lambda: self._healthy(self.port, "/readyz"), timeout=90)
        self._write_kubeconfig()
        manager_port, scheduler_port = free_port(), free_port()
        self._spawn(
            "kube-controller-manager",
            *self._component_flags(manager_port),
            f"--service-account-private-key-file={self.dir / 'sa.key'}",
            f"--root-ca-file={self.ca_file}",
            f"--controllers={CONTROLLERS}",
        )
        (self.dir / "scheduler.yaml").write_text(
            "apiVersion: kubescheduler.config.k8s.io/v1\n"
            "kind: KubeSchedulerConfiguration\n"
            f"clientConnection: {{kubeconfig: {self.kubeconfig}}}\n"
            "leaderElection: {leaderElect: false}\n"
            "podInitialBackoffSeconds: 1\n"
            "podMaxBackoffSeconds: 1\n"
        )
        self._spawn(
            "kube-scheduler",
            *self._component_flags(scheduler_port, leader=False),
            f"--config={self.dir / 'scheduler.yaml'}",
        )
        self._spawn(
            "kwok",
            f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=true",
            f"--config={STAGES}",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.0.0.1",
            "--node-lease-duration-seconds=40",
        )
        self._wait("kube-controller-manager", lambda: self._healthy(manager_port, "/healthz"), timeout=60)
        self._wait("kube-scheduler", lambda: self._healthy(scheduler_port, "/healthz"), timeout=60)
        self._create_nodes()
        self.started_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop every component (newest first): SIGTERM to its process group, SIGKILL after 10 s."""
        while self._processes:
            _name, process = self._processes.pop()
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (what the API server does every 5
        minutes); returns that revision. Watches from an older resourceVersion of what etcd serves
        uncached (Secrets) then end with 410 Gone."""
        revision = self._etcd("range", {"key": "AA=="})["header"]["revision"]
        self._etcd("compaction", {"revision": revision, "physical": True})
        return int(revision)

    def _etcd(self, call: str, body: dict) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.etcd_port}/v3/kv/{call}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def api_client(self):
        """A `kubernetes.client.ApiClient` for the API server, as its admin."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    # --- the parts

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps it
        with log:
            process = subprocess.Popen(
                [str(self.bin / name), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                start_new_session=True,  # its own process group: stop() ends it and its children
            )
        self._processes.append((name, process))

    def _component_flags(self, port: int, *, leader: bool = True) -> list[str]:
        flags = [
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
        ]
        if leader:
            flags += [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false"]
        return flags

    def _wait(self, name: str, ready: Callable[[], bool], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for component, process in self._processes:
                if process.poll() is not None:
                    raise ControlPlaneError(
                        f"{component} exited ({process.returncode}):\n{self._tail(component)}"
                    )
            if ready():
                return
            time.sleep(0.2)
        raise ControlPlaneError(f"{name} was not ready after {timeout:.0f} s:\n{self._tail(name)}")

    def _tail(self, name: str) -> str:
        return (self.dir / f"{name}.log").read_text(errors="replace")[-3000:]

    def _healthy(self, port: int, path: str) -> bool:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the components' own self-signed serving certificates
        request = urllib.request.Request(f"https://127.0.0.1:{port}{path}")
        request.add_header("Authorization", f"Bearer {TOKEN}")
        try:
            with urllib.request.urlopen(request, context=context, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def _create_nodes(self) -> None:
        from kubernetes import client

        with self.api_client() as api_client:
            core = client.CoreV1Api(api_client)
            for node in gpu_nodes():
                core.create_node(node)
            self._wait("kwok", lambda: _all_ready(core), timeout=60)

    def _write_credentials(self) -> None:
        ca_key, ca = _certificate("mlplatform-test-ca")
        key, cert = _certificate("127.0.0.1", issuer=(ca_key, ca))
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (self.dir / "serving.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (self.dir / "serving.key").write_bytes(_pem(key))
        (self.dir / "sa.key").write_bytes(
            _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        )
        (self.dir / "tokens.csv").write_text(f"{TOKEN},admin,admin-uid,system:masters\n")

    def _write_kubeconfig(self) -> None:
        cluster = {"server": self.url, "certificate-authority": str(self.ca_file)}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kwok", "cluster": cluster}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "kwok", "context": {"cluster": "kwok", "user": "admin"}}],
            "current-context": "kwok",
        }
        self.kubeconfig.write_text(json.dumps(config, indent=1))  # JSON is YAML too


def _all_ready(core) -> bool:
    nodes = core.list_node().items
    return bool(nodes) and all(
        any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or ())
        and not any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or ())
        for node in nodes
    )


def _pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _certificate(name: str, issuer=None):
    """(key, certificate): a CA when `issuer` is None, else a serving certificate for 127.0.0.1 and
    localhost signed by the issuer's (key, certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    signer_key, signer = issuer or (key, None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer.subject if signer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(signer_key, hashes.SHA256())
