"""The Kubernetes API test server's services/proxy subresource against a real notebook-like server:
what the notebook sees through the apiserver, and what comes back to the console."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPResponse as Response
from urllib.parse import quote, urlsplit

import pytest
from aiohttp import web
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.background import aiohttp_serving

NAMESPACE = "team-a"
NOTEBOOK = "/notebooks/p/n"
CREDENTIALS = {"Authorization": "Bearer test"}


def proxy_path(name: str) -> str:
    return f"/api/v1/namespaces/{NAMESPACE}/services/{name}/proxy"


PREFIX = proxy_path("nb-x:8888")
PAGE = (
    f'<html><head><script src="{NOTEBOOK}/static/a.js"></script></head>'
    '<body><a href="tree">files</a><script>var link = \'<a href="/raw">\';</script></body></html>'
)


# --- the notebook server -----------------------------------------------------------------------


@dataclass
class NotebookServer:
    address: str = ""  # host:port
    released: threading.Event = field(default_factory=threading.Event)  # lets /stream finish


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


SERVER = web.AppKey("server", NotebookServer)
ENCODERS = {"": lambda data: data, "gzip": gzip.compress, "deflate": _raw_deflate}


async def _page(request: web.Request) -> web.Response:
    encoding = request.query.get("encoding", "")
    headers = {"Content-Encoding": encoding} if encoding else {}
    body = ENCODERS[encoding](PAGE.encode())
    return web.Response(body=body, content_type="text/html", headers=headers)


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.query["to"])


async def _echo(request: web.Request) -> web.Response:
    path, _, query = request.raw_path.partition("?")
    echoed = {
        "method": request.method,
        "path": path,
        "query": query,
        "headers": dict(request.headers),
        "body": (await request.read()).decode(),
    }
    return web.json_response(echoed, headers={"Access-Control-Allow-Origin": "*"})


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"first\n")
    await asyncio.get_running_loop().run_in_executor(None, request.app[SERVER].released.wait, 5)
    await response.write(b"second\n")
    await response.write_eof()
    return response


async def _channels(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    await socket.send_json({"path": request.raw_path, "authorization": request.headers.get("Authorization")})
    async for message in socket:
        await socket.send_str(message.data)
    return socket


@pytest.fixture(scope="module")
def notebook_server() -> Iterator[NotebookServer]:
    """A JupyterLab stand-in on 127.0.0.1, served from its own event loop thread."""
    server = NotebookServer()
    app = web.Application()
    app[SERVER] = server
    app.router.add_get(f"{NOTEBOOK}/lab", _page)
    app.router.add_get(f"{NOTEBOOK}/redirect", _redirect)
    app.router.add_route("*", f"{NOTEBOOK}/api/echo", _echo)
    app.router.add_get(f"{NOTEBOOK}/stream", _stream)
    app.router.add_get(f"{NOTEBOOK}/api/kernels/k1/channels", _channels)
    with aiohttp_serving(app, "notebook-server") as address:
        server.address = address
        yield server
        server.released.set()


@pytest.fixture
def proxied(kube, notebook_server):
    """`kube` with Service nb-x (port 8888, named http) answered by the notebook server."""
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    for name in ("nb-x", "nb-idle"):
        kube.put(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"ports": [{"name": "http", "port": 8888, "targetPort": 8888}]},
            }
        )
    kube.service_backend(NAMESPACE, "nb-x", 8888, notebook_server.address)
    return kube


def call(kube, method: str, path: str, *, headers=CREDENTIALS, body=None) -> tuple[Response, bytes]:
    connection = http.client.HTTPConnection(urlsplit(kube.url).netloc, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def status_of(data: bytes) -> tuple[int, str, str]:
    status = json.loads(data)
    return status["code"], status["reason"], status["message"]


# --- requests ----------------------------------------------------------------------------------


def test_a_request_without_credentials_is_unauthorized(proxied):
    response, data = call(proxied, "GET", f"{PREFIX}{NOTEBOOK}/api/echo", headers={})

    assert response.status == 401
    assert status_of(data) == (401, "Unauthorized", "Unauthorized")


def test_the_notebook_sees_the_path_and_query_as_sent_but_not_the_credentials(proxied):
    response, data = call(proxied, "GET", f"{PREFIX}{NOTEBOOK}/api/echo?a=1&b=x%2Fy")

    assert response.status == 200
    echoed = json.loads(data)
    assert (echoed["path"], echoed["query"]) == (f"{NOTEBOOK}/api/echo", "a=1&b=x%2Fy")
    assert "Authorization" not in echoed["headers"]
    assert echoed["headers"]["X-Forwarded-Uri"] == f"{PREFIX}{NOTEBOOK}/api/echo"
    assert echoed["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert response.getheader("Access-Control-Allow-Origin") is None  # the apiserver drops CORS headers
    assert proxied.requests.count("proxy") == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_reaches_the_notebook_with_its_body(proxied, method):
    _, data = call(proxied, method, f"{PREFIX}{NOTEBOOK}/api/echo", body=b'{"name": "x"}')

    echoed = json.loads(data)
    assert (echoed["method"], echoed["body"]) == (method, '{"name": "x"}')


def test_a_chunked_request_body_reaches_the_notebook_whole(proxied):
    _, data = call(proxied, "POST", f"{PREFIX}{NOTEBOOK}/api/echo", body=iter([b"first,", b"second"]))

    assert json.loads(data)["body"] == "first,second"


def test_a_head_request_gets_the_headers_alone(proxied):
    response, data = call(proxied, "HEAD", f"{PREFIX}{NOTEBOOK}/api/echo")

    assert (response.status, data) == (200, b"")
    assert response.getheader("Content-Type") == "application/json; charset=utf-8"


def test_one_connection_carries_one_proxied_request_after_another(proxied):
    connection = http.client.HTTPConnection(urlsplit(proxied.url).netloc, timeout=5)
    statuses = []
    for method, path in [
        ("GET", f"{PREFIX}{NOTEBOOK}/lab"),
        ("HEAD", f"{PREFIX}{NOTEBOOK}/api/echo"),
        ("GET", f"{PREFIX}{NOTEBOOK}/redirect?to=lab"),
        ("GET", f"{PREFIX}{NOTEBOOK}/api/echo"),
    ]:
        connection.request(method, path, headers=CREDENTIALS)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
    connection.close()

    assert statuses == [200, 200, 302, 200]
    assert proxied.requests.count("proxy") == 4


def test_a_streamed_response_arrives_piece_by_piece(proxied, notebook_server):
    connection = http.client.HTTPConnection(urlsplit(proxied.url).netloc, timeout=5)
    connection.request("GET", f"{PREFIX}{NOTEBOOK}/stream", headers=CREDENTIALS)
    response = connection.getresponse()

    first = response.read1()
    notebook_server.released.set()
    rest = response.read()

    assert (first, rest) == (b"first\n", b"second\n")
    connection.close()


# --- what is rewritten -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        (f"{NOTEBOOK}/lab", f"{PREFIX}{NOTEBOOK}/lab"),
        (f"{PREFIX}{NOTEBOOK}/lab", f"{PREFIX}{NOTEBOOK}/lab"),
        ("lab?reset", "lab?reset"),
        ("https://accounts.example.com/login", "https://accounts.example.com/login"),
    ],
)
def test_a_redirect_to_an_absolute_path_stays_under_the_proxy(proxied, sent, received):
    response, _ = call(proxied, "GET", f"{PREFIX}{NOTEBOOK}/redirect?to={quote(sent)}")

    assert (response.status, response.getheader("Location")) == (302, received)


@pytest.mark.parametrize("encoding", ["", "gzip", "deflate"])
def test_html_links_to_absolute_paths_go_under_the_proxy(proxied, encoding):
    response, data = call(proxied, "GET", f"{PREFIX}{NOTEBOOK}/lab?encoding={encoding}")

    assert response.getheader("Content-Length") == str(len(data))
    decoders = {"": bytes, "gzip": gzip.decompress, "deflate": lambda d: zlib.decompress(d, -zlib.MAX_WBITS)}
    page = decoders[encoding](data).decode()
    assert f'<script src="{PREFIX}{NOTEBOOK}/static/a.js">' in page
    assert '<a href="tree">' in page  # relative links already resolve under the proxy
    assert "'<a href=\"/raw\">'" in page  # script text is no markup


def test_json_passes_unchanged(proxied):
    _, data = call(proxied, "GET", f"{PREFIX}{NOTEBOOK}/api/echo")

    assert json.loads(data)["path"] == f"{NOTEBOOK}/api/echo"


def test_the_bare_proxy_root_redirects_to_its_slash(proxied):
    response, _ = call(proxied, "GET", f"{PREFIX}?a=1")

    assert (response.status, response.getheader("Location")) == (301, f"{PREFIX}/?a=1")


# --- resolving the Service ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nb-x:http", "http:nb-x:8888", "https:nb-x:8888"])
def test_the_port_may_be_named_and_a_scheme_given(proxied, name):
    response, data = call(proxied, "GET", f"{proxy_path(name)}{NOTEBOOK}/api/echo")

    assert response.status == 200
    assert json.loads(data)["path"] == f"{NOTEBOOK}/api/echo"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nb-y:8888", 'services "nb-y" not found'),
        ("nb-y:http", 'endpoints "nb-y" not found'),  # the apiserver reads a port name off the Endpoints
    ],
)
def test_a_missing_service_is_not_found(proxied, name, message):
    _, data = call(proxied, "GET", f"{proxy_path(name)}/")

    assert status_of(data) == (404, "NotFound", message)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nb-idle:8888", 'no endpoints available for service "nb-idle"'),
        ("nb-x", 'no endpoints available for service "nb-x"'),  # its one port has a name: say it
        ("nb-x:9999", 'no service port 9999 found for service "nb-x"'),
    ],
)
def test_a_service_port_nothing_answers_is_unavailable(proxied, name, message):
    _, data = call(proxied, "GET", f"{proxy_path(name)}/")

    assert status_of(data) == (503, "ServiceUnavailable", message)


def test_a_backend_that_refuses_connections_is_unavailable(proxied):
    proxied.service_backend(NAMESPACE, "nb-idle", 8888, "127.0.0.1:1")

    _, data = call(proxied, "GET", f"{proxy_path('nb-idle:8888')}/")

    code, reason, message = status_of(data)
    assert (code, reason) == (503, "ServiceUnavailable")
    assert message.startswith("error trying to reach service:")


# --- WebSockets --------------------------------------------------------------------------------


def test_a_websocket_round_trip_through_the_proxy(proxied):
    url = f"ws://{urlsplit(proxied.url).netloc}{PREFIX}{NOTEBOOK}/api/kernels/k1/channels?session_id=s1"

    with connect(url, additional_headers=CREDENTIALS, open_timeout=5) as socket:
        seen = json.loads(socket.recv(timeout=5))
        socket.send("hello")
        echoed = socket.recv(timeout=5)

    assert echoed == "hello"
    # As the real apiserver (kubernetes#77142), an upgrade reaches the backend without its query.
    assert seen == {"path": f"{NOTEBOOK}/api/kernels/k1/channels", "authorization": None}


def test_a_websocket_without_credentials_is_unauthorized(proxied):
    url = f"ws://{urlsplit(proxied.url).netloc}{PREFIX}{NOTEBOOK}/api/kernels/k1/channels"

    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=5)

    assert refused.value.response.status_code == 401
