"""The forwarder between a real caller and a real server: uvicorn serves an app that forwards to an
aiohttp server, as the notebook proxy forwards to Jupyter (the endpoint is the first path segment)."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from aiohttp import web
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from mlplatform.compute.backends.base import Endpoint
from mlplatform.compute.forwarding import Forwarder
from tests.background import aiohttp_serving, uvicorn_serving
from tests.stores import free_port

PREFIX = "/api/v1/namespaces/team-a/services/lab-1a2b3c4d:8888/proxy"  # the API server's, played
PAGE = f'<html><script src="{PREFIX}/lab/static/a.js"></script><a href="tree">files</a></html>'
WITHHELD = frozenset({b"authorization", b"cookie"})


# --- the server ----------------------------------------------------------------------------------


@dataclass
class Server:
    """What the server saw, and the events a test moves it along with."""

    address: str = ""  # host:port
    peers: list = field(default_factory=list)  # the client port of each request
    released: threading.Event = field(default_factory=threading.Event)  # lets /stream finish
    first_chunk: threading.Event = field(default_factory=threading.Event)  # /upload read its first
    closed_with: list = field(default_factory=list)  # close codes of WebSockets the caller closed


SERVER = web.AppKey("server", Server)


async def _echo(request: web.Request) -> web.Response:
    request.app[SERVER].peers.append(request.transport.get_extra_info("peername")[1])
    body = await request.read()
    echoed = {
        "method": request.method,
        "path": request.raw_path,
        "headers": [[name.lower(), value] for name, value in request.headers.items()],
        "length": len(body),
        "body": body[:100].decode(),
    }
    headers = {
        "Keep-Alive": "timeout=5",
        "Proxy-Authenticate": "Basic",
        "Trailer": "Expires",
        "Set-Cookie": "_xsrf=abc; Path=/",
        "X-Kept": "yes",
    }
    return web.json_response(echoed, headers=headers)


async def _upload(request: web.Request) -> web.Response:
    """Reads the body in pieces; says so after the first, so the caller sends the rest only then."""
    first = await request.content.readany()
    request.app[SERVER].first_chunk.set()
    rest = await request.content.read()
    return web.json_response({"first": first.decode(), "rest": rest.decode()})


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"first\n")
    await asyncio.get_running_loop().run_in_executor(None, request.app[SERVER].released.wait, 5)
    await response.write(b"second\n")
    await response.write_eof()
    return response


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)  # raw DEFLATE, as the API server's Go writes it
    return packer.compress(data) + packer.flush()


ENCODERS = {"": bytes, "gzip": gzip.compress, "deflate": _raw_deflate, "br": lambda data: b"\x1b\x2b-brotli"}


async def _page(request: web.Request) -> web.Response:
    encoding = request.query.get("encoding", "")
    headers = {"Content-Encoding": encoding} if encoding else {}
    return web.Response(body=ENCODERS[encoding](PAGE.encode()), content_type="text/html", headers=headers)


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.query["to"])


async def _socket(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(protocols=("v1.kernel.websocket.jupyter.org",))
    await socket.prepare(request)
    async for message in socket:
        if message.data == "close with 4001":
            await socket.close(code=4001)
        elif isinstance(message.data, bytes):
            await socket.send_bytes(message.data[::-1])
        else:
            await socket.send_str(message.data.upper())
    request.app[SERVER].closed_with.append(socket.close_code)
    return socket


async def _refused_socket(request: web.Request) -> web.Response:
    raise web.HTTPForbidden(text="no")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """The workload's server on 127.0.0.1 (its paths also under PREFIX), in its own event loop."""
    server = Server()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[SERVER] = server
    for base in ("", PREFIX):
        app.router.add_route("*", f"{base}/echo", _echo)
        app.router.add_post(f"{base}/upload", _upload)
        app.router.add_get(f"{base}/stream", _stream)
        app.router.add_get(f"{base}/lab", _page)
        app.router.add_get(f"{base}/redirect", _redirect)
        app.router.add_get(f"{base}/socket", _socket)
        app.router.add_get(f"{base}/refused-socket", _refused_socket)
    with aiohttp_serving(app, "workload-server") as address:
        server.address = address
        yield server
        server.released.set()


# --- the forwarding app --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def front(server) -> Iterator[str]:
    """uvicorn on 127.0.0.1 serving an app that forwards `/{endpoint}/{path}` to `path` of the
    endpoint: `direct` (the server), `api-server` (the server under PREFIX, as through the API
    server's service proxy, with its credentials) or `down` (a port nothing listens on)."""
    forwarder = Forwarder()
    endpoints = {
        "direct": Endpoint(f"http://{server.address}"),
        "api-server": Endpoint(
            f"http://{server.address}{PREFIX}",
            headers=(("Authorization", "Bearer cluster"),),
            via_api_server=True,
        ),
        "down": Endpoint(f"http://127.0.0.1:{free_port()}"),
    }

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        name, _, path = scope["raw_path"].decode()[1:].partition("/")
        query = scope["query_string"].decode()
        target = f"/{path}?{query}" if query else f"/{path}"
        extra = (("X-Token", "the-secret"),)
        if scope["type"] == "websocket":
            await receive()
            await forwarder.websocket(
                endpoints[name], scope, receive, send, target=target, headers=extra, drop=WITHHELD
            )
        else:
            await forwarder.http(
                endpoints[name], scope, receive, send, target=target, headers=extra, drop=WITHHELD
            )

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="websockets",
        ws_per_message_deflate=False,
    )
    with uvicorn_serving(config):
        yield f"127.0.0.1:{port}"


def call(
    front: str, method: str, path: str, *, headers=None, body=None
) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection(front, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


# --- HTTP ----------------------------------------------------------------------------------------


def test_hop_by_hop_headers_and_withheld_ones_stay_behind_and_the_endpoints_and_apps_are_added(front, server):
    sent = {
        "Connection": "keep-alive, X-Hop",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Upgrade": "h2c",
        "Proxy-Authorization": "Basic eA==",
        "Authorization": "Bearer mlp_console",
        "Cookie": "sessionid=s",
        "Accept": "application/json",
    }

    response, data = call(front, "GET", "/api-server/echo?a=1&b=x%2Fy", headers=sent)

    echoed = json.loads(data)
    received = dict(echoed["headers"])
    assert echoed["path"] == f"{PREFIX}/echo?a=1&b=x%2Fy"
    assert received["accept"] == "application/json"
    assert received["authorization"] == "Bearer cluster"  # the endpoint's own credentials
    assert received["x-token"] == "the-secret"
    assert received["host"] == server.address
    assert not {"keep-alive", "te", "upgrade", "proxy-authorization", "cookie"} & set(received)
    returned = {name.lower() for name, _ in response.getheaders()}
    assert "x-kept" in returned
    assert not {"keep-alive", "proxy-authenticate", "trailer", "set-cookie"} & returned


def test_a_small_body_arrives_with_its_length(front):
    _, data = call(front, "PUT", "/direct/echo", body=b'{"name": "x"}', headers={"Content-Length": "13"})

    echoed = json.loads(data)
    assert (echoed["method"], echoed["body"]) == ("PUT", '{"name": "x"}')
    assert ["content-length", "13"] in echoed["headers"]


def test_a_large_body_streams_with_its_length(front):
    body = b"x" * (3 * 1024 * 1024)

    _, data = call(front, "POST", "/direct/echo", body=body, headers={"Content-Length": str(len(body))})

    echoed = json.loads(data)
    assert echoed["length"] == len(body)
    assert ["content-length", str(len(body))] in echoed["headers"]


def test_a_chunked_request_body_streams_to_the_server_piece_by_piece(front, server):
    def pieces():
        yield b"first,"
        assert server.first_chunk.wait(5), "the server did not get the first piece before the second"
        yield b"second"

    response, data = call(front, "POST", "/direct/upload", body=pieces())

    assert response.status == 200
    assert json.loads(data) == {"first": "first,", "rest": "second"}


def test_a_streamed_answer_arrives_piece_by_piece(front, server):
    connection = http.client.HTTPConnection(front, timeout=10)
    connection.request("GET", "/direct/stream")
    response = connection.getresponse()

    first = response.read1()
    server.released.set()
    rest = response.read()

    assert (first, rest) == (b"first\n", b"second\n")
    connection.close()


def test_requests_one_after_another_share_one_kept_connection(front, server):
    server.peers.clear()
    connection = http.client.HTTPConnection(front, timeout=10)
    for method in ("GET", "HEAD", "POST", "GET"):
        connection.request(method, "/direct/echo", body=b"{}" if method == "POST" else None)
        response = connection.getresponse()
        data = response.read()
        assert response.status == 200
        assert (data == b"") == (method == "HEAD")
    connection.close()

    assert len(server.peers) == 4
    assert len(set(server.peers[2:])) == 1  # after HEAD (whose answer the parser cannot end) a new one


def test_a_server_that_does_not_answer_is_a_bad_gateway_with_the_reason(front):
    response, data = call(front, "GET", "/down/echo")

    assert response.status == 502
    assert data.decode().startswith("The workload's server did not answer: no connection to 127.0.0.1:")
    assert "refused" in data.decode().lower()


# --- what is rewritten ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["", "gzip", "deflate"])
def test_pages_through_the_api_server_lose_its_prefix_whatever_their_encoding(front, encoding):
    response, data = call(front, "GET", f"/api-server/lab?encoding={encoding}")

    assert data == b'<html><script src="/lab/static/a.js"></script><a href="tree">files</a></html>'
    assert response.getheader("Content-Encoding") is None
    assert response.getheader("Content-Length") == str(len(data))
    assert response.getheader("Cache-Control") == "no-store"


def test_a_page_in_an_encoding_the_api_server_does_not_rewrite_passes_as_it_is(front):
    response, data = call(front, "GET", "/api-server/lab?encoding=br")

    assert (data, response.getheader("Content-Encoding")) == (b"\x1b\x2b-brotli", "br")


def test_a_page_straight_from_the_server_passes_as_it_is(front):
    _, data = call(front, "GET", "/direct/lab")

    assert data == PAGE.encode()


@pytest.mark.parametrize(
    ("to", "location"),
    [(f"{PREFIX}/lab?reset", "/lab?reset"), ("/elsewhere", "/elsewhere"), ("lab", "lab")],
)
def test_redirects_through_the_api_server_lose_its_prefix(front, to, location):
    response, _ = call(front, "GET", f"/api-server/redirect?to={to}")

    assert (response.status, response.getheader("Location")) == (302, location)


def test_a_redirect_to_the_servers_own_address_means_the_callers(front, server):
    response, _ = call(front, "GET", f"/direct/redirect?to=http://{server.address}/lab")

    assert response.getheader("Location") == "/lab"


# --- WebSockets ----------------------------------------------------------------------------------


def test_websocket_messages_pass_both_ways_with_the_agreed_subprotocol(front, server):
    protocol = "v1.kernel.websocket.jupyter.org"
    with connect(f"ws://{front}/direct/socket", subprotocols=[protocol], open_timeout=5) as ws:
        ws.send("hello")
        text = ws.recv(timeout=5)
        ws.send(b"\x00\x01\x02")
        data = ws.recv(timeout=5)
        agreed = ws.subprotocol

    assert (text, data, agreed) == ("HELLO", b"\x02\x01\x00", protocol)


def test_the_callers_close_code_reaches_the_server(front, server):
    server.closed_with.clear()
    with connect(f"ws://{front}/direct/socket", open_timeout=5) as ws:
        ws.send("ping")
        ws.recv(timeout=5)
        ws.close(code=4002)

    deadline = time.monotonic() + 5
    while 4002 not in server.closed_with and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 4002 in server.closed_with


def test_the_servers_close_code_reaches_the_caller(front):
    with connect(f"ws://{front}/direct/socket", open_timeout=5) as ws:
        ws.send("close with 4001")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)

    assert closed.value.rcvd.code == 4001


def test_a_websocket_the_server_refuses_is_refused_with_its_status(front):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{front}/direct/refused-socket", open_timeout=5)

    assert refused.value.response.status_code == 403


def test_a_websocket_to_a_server_that_does_not_answer_is_a_bad_gateway(front):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{front}/down/socket", open_timeout=5)

    assert refused.value.response.status_code == 502
    assert refused.value.response.body.startswith(b"The workload's server did not answer")


# --- what the review of the forwarder found ---------------------------------------------------


def forward_once(server, headers, target="/echo") -> tuple[int, bytes]:
    """One request straight through a Forwarder, as an app that builds its own target would."""

    async def scenario():
        forwarder, sent = Forwarder(), []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "headers": headers, "query_string": b""}
        await forwarder.http(Endpoint(f"http://{server.address}"), scope, receive, send, target=target)
        await forwarder.close()
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    return asyncio.run(scenario())


def test_the_callers_credentials_never_reach_the_workload_even_when_the_app_forgets_them(server):
    # Given an app that asks the forwarder to withhold nothing
    headers = [
        (b"cookie", b"sessionid=console"),
        (b"authorization", b"Bearer mlp_console"),
        (b"impersonate-user", b"admin"),
        (b"connection", b"x-secret-hop"),
        (b"x-secret-hop", b"1"),
        (b"accept", b"application/json"),
    ]
    _, body = forward_once(server, headers)
    received = dict(json.loads(body)["headers"])
    # Then the workload sees none of them, and what is not a credential passes
    assert not {"cookie", "authorization", "impersonate-user", "x-secret-hop"} & set(received)
    assert received["accept"] == "application/json"


def test_a_target_with_a_line_break_is_not_sent(server):
    # Given a target an app decoded from a caller's %0d%0a
    before = len(server.peers)
    status, body = forward_once(server, [], target="/echo\r\nX-Injected: yes")
    # Then it is refused and nothing reached the server
    assert status == 502
    assert b"control characters" in body
    assert len(server.peers) == before
