"""A console outside the cluster whose kubeconfig names a CA and a client certificate (kind,
minikube, kubeadm's admin.conf): the Endpoint of the API server's service proxy carries those files
and the forwarder presents the certificate, over real TLS (trustme makes the CA)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl

import pytest
import trustme
from aiohttp import web

from mlplatform.compute.backends.base import Endpoint
from mlplatform.compute.backends.kubernetes.client import KubeClient, load_api_client
from mlplatform.compute.forwarding import Forwarder


@pytest.fixture
def cluster_ca():
    return trustme.CA()


@pytest.fixture
def kubeconfig_with_certificates(cluster_ca, tmp_path, monkeypatch):
    """A kubeconfig naming https://127.0.0.1:PORT, its CA and the console's client certificate."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ca, cert, key = tmp_path / "ca.pem", tmp_path / "console.pem", tmp_path / "console-key.pem"
    cluster_ca.cert_pem.write_to_path(str(ca))
    console = cluster_ca.issue_cert("console@cluster")
    console.cert_chain_pems[0].write_to_path(str(cert))
    console.private_key_pem.write_to_path(str(key))
    config = tmp_path / "kubeconfig"
    config.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: kind, cluster: {{server: "https://127.0.0.1:{port}", certificate-authority: "{ca}"}}}}]
users: [{{name: admin, user: {{client-certificate: "{cert}", client-key: "{key}"}}}}]
contexts: [{{name: kind, context: {{cluster: kind, user: admin}}}}]
current-context: kind
"""
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    return port


def test_a_client_certificate_kubeconfig_reaches_the_service_proxy_over_tls(
    cluster_ca, kubeconfig_with_certificates
):
    endpoint = KubeClient(load_api_client()).service_proxy("team-a", "lab-1a2b3c4d", 8888)

    assert endpoint.headers == ()  # no token: the certificate is the credential
    assert answered(cluster_ca, kubeconfig_with_certificates, endpoint) == (
        200,
        b"/api/v1/namespaces/team-a/services/lab-1a2b3c4d:8888/proxy/notebooks/team-a/lab/api/status",
    )
    without_certificate = dataclasses.replace(endpoint, cert_file=None, key_file=None)
    status, _ = answered(cluster_ca, kubeconfig_with_certificates, without_certificate)
    assert status == 502


def answered(ca: trustme.CA, port: int, endpoint: Endpoint) -> tuple[int, bytes]:
    """GET a Jupyter path through `endpoint` from an API server that requires a client certificate
    of `ca`, as the forwarder forwards it."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request.path)

    async def run() -> tuple[int, bytes]:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_tls)
        ca.configure_trust(server_tls)
        server_tls.verify_mode = ssl.CERT_REQUIRED
        app = web.Application()
        app.router.add_get("/{tail:.*}", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_tls).start()
        messages = []

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            messages.append(message)

        forwarder = Forwarder()
        scope = {"type": "http", "method": "GET", "headers": []}
        try:
            await forwarder.http(endpoint, scope, receive, send, target="/notebooks/team-a/lab/api/status")
        finally:
            await forwarder.close()
            await runner.cleanup()
        return messages[0]["status"], b"".join(message.get("body", b"") for message in messages[1:])

    return asyncio.run(run())
