"""A console outside the cluster whose kubeconfig names a CA and a client certificate (kind,
minikube, kubeadm's admin.conf): the Endpoint of the API server's service proxy carries those files
and the proxy's TLS context presents the certificate, over real TLS (trustme makes the CA)."""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
import pytest
import trustme
from aiohttp import web

from mlplatform.compute.backends.kubernetes.client import KubeClient, load_api_client
from notebooks_app.proxy import _tls


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
    assert answered(cluster_ca, kubeconfig_with_certificates, _tls(endpoint.tls), endpoint.url) == (
        200,
        "/api/v1/namespaces/team-a/services/lab-1a2b3c4d:8888/proxy/notebooks/team-a/lab/api/status",
    )
    without_certificate = ssl.create_default_context(cafile=endpoint.ca_file)
    with pytest.raises(aiohttp.ClientError):
        answered(cluster_ca, kubeconfig_with_certificates, without_certificate, endpoint.url)


def answered(ca: trustme.CA, port: int, client_tls, base: str) -> tuple[int, str]:
    """GET a Jupyter path under `base` from an API server that requires a client certificate of `ca`."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request.path)

    async def run() -> tuple[int, str]:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_tls)
        ca.configure_trust(server_tls)
        server_tls.verify_mode = ssl.CERT_REQUIRED
        app = web.Application()
        app.router.add_get("/{tail:.*}", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_tls).start()
        try:
            async with aiohttp.ClientSession() as session:
                url = f"{base}/notebooks/team-a/lab/api/status"
                async with session.get(url, ssl=client_tls) as response:
                    return response.status, await response.text()
        finally:
            await runner.cleanup()

    return asyncio.run(run())
