"""Forwarding an ASGI app's HTTP requests and WebSockets to a workload's server, an `Endpoint`: the
notebook proxy's way to Jupyter, online prediction's to a model server.

Toward the server go the caller's method, the app's target (path and query), the caller's headers
less hop-by-hop ones and those the app withholds, then the endpoint's own (a cluster's credentials)
and the app's; the body streams. Back come the status, the headers less hop-by-hop ones and cookies
(they would land on the console's domain), and the body as it arrives. Through the Kubernetes API
server's service proxy, its path prefix comes off redirects and pages again (`link_prefix`).
Who may call is the app's business: it decides before it forwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import aiohttp

from mlplatform.compute.backends.base import Endpoint
from mlplatform.compute.forwarding.connections import (
    ConnectionPool,
    Response,
    Server,
    UpstreamError,
    tls_context,
)

SMALL_BODY = 64 * 1024  # answers up to this size go to the caller in one message rather than a stream
# Header names as bytes, the form ASGI gives them in: nothing to decode per request.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The body's length is stated anew; the ASGI server has answered an `Expect` already. The caller's
# credentials are the console's: they never reach a workload (which runs users' code), whatever
# the app forwarding asks; an endpoint's own (the API server's) are added after.
NOT_FORWARDED = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"expect",
    b"cookie",
    b"authorization",
    b"proxy-authorization",
}
# aiohttp makes its own handshake toward the server.
NOT_FORWARDED_WEBSOCKET = NOT_FORWARDED | {
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
}
# The server's cookies would land on the console's domain; the ASGI server adds its own date and name.
NOT_RETURNED = HOP_BY_HOP | {b"set-cookie", b"date", b"server"}

# Answers the caller when the server gave no answer, told why ("no connection to ...").
Unreachable = Callable[[str], Awaitable[None]]


class Forwarder:
    """Forwards to endpoints over kept connections: one pool per event loop (the server has one;
    tests may have more)."""

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> pool
        self._sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> aiohttp's

    async def http(
        self,
        endpoint: Endpoint,
        scope,
        receive,
        send,
        *,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        drop: frozenset[bytes] = frozenset(),
        unreachable: Unreachable | None = None,
    ) -> None:
        """Forward the HTTP request of `scope` to `endpoint` + `target` (path and query, encoded),
        with `headers` added and the caller's `drop` (lowercase names) left out, and its answer back.
        When the server gives no answer, `unreachable(why)` answers (by default: 502 and why); an
        answer that breaks off ends the caller's unfinished."""
        server, endpoint_headers = _server(endpoint)
        forwarded = _forwarded(scope, drop | NOT_FORWARDED, endpoint_headers, headers)
        message = await receive()
        body: bytes | AsyncIterator[bytes] = message.get("body", b"")
        length = _content_length(scope)
        if message.get("more_body"):
            body = _rest_of_body(receive, body)
        elif body or length is not None:
            length = len(body)
        started = False
        try:
            pool = self._pool()
            response = await pool.request(server, scope["method"], target, forwarded, body, length=length)
            try:
                if endpoint.link_prefix and _is_html(response):
                    return await _send_page(send, response, endpoint)
                returned = _returned(response, endpoint)
                await send({"type": "http.response.start", "status": response.status, "headers": returned})
                started = True
                if response.content_length is not None and response.content_length <= SMALL_BODY:
                    await send({"type": "http.response.body", "body": await response.read()})
                    return
                async for chunk in response.chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                response.close()
        except UpstreamError as exc:
            if started:
                return
            if unreachable is not None:
                return await unreachable(str(exc))
            await respond(send, 502, f"The workload's server did not answer: {exc}.".encode(), PLAIN_TEXT)
        except _CallerGone:
            return

    async def websocket(
        self,
        endpoint: Endpoint,
        scope,
        receive,
        send,
        *,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        drop: frozenset[bytes] = frozenset(),
        unreachable: Unreachable | None = None,
    ) -> None:
        """Forward the WebSocket of `scope`, whose `websocket.connect` the app has received, to
        `endpoint` + `target`: the server's handshake answer (its refusal's status), then messages
        both ways until one side closes, with its close code. `unreachable(why)` answers when the
        server does not (by default: 502)."""
        server, endpoint_headers = _server(endpoint)
        forwarded = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in _forwarded(scope, drop | NOT_FORWARDED_WEBSOCKET, endpoint_headers, headers)
        ]
        try:
            upstream = await self._session().ws_connect(
                "ws" + endpoint.url.removeprefix("http") + target,
                headers=forwarded,
                ssl=server.tls or True,
                protocols=scope.get("subprotocols") or (),
                max_msg_size=0,  # the server decides; messages pass as they are
                autoping=True,
                compress=0,  # nor toward the caller (runconsole's web_server_options says why)
            )
        except aiohttp.WSServerHandshakeError as exc:
            return await refuse(scope, send, exc.status, b"The workload's server refused the WebSocket.")
        except (TimeoutError, aiohttp.ClientError) as exc:
            why = f"no connection to {server.host}:{server.port} ({exc})"
            if unreachable is not None:
                return await unreachable(why)
            return await refuse(scope, send, 502, f"The workload's server did not answer: {why}.".encode())
        async with upstream:
            await send({"type": "websocket.accept", "subprotocol": upstream.protocol})
            await _pump(receive, send, upstream)

    async def close(self) -> None:
        """Close the connections of the running event loop (at the server's shutdown)."""
        loop = asyncio.get_running_loop()
        pool, session = self._pools.pop(loop, None), self._sessions.pop(loop, None)
        if pool is not None:
            await pool.close()
        if session is not None:
            await session.close()

    def _pool(self) -> ConnectionPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = ConnectionPool()
        return pool

    def _session(self) -> aiohttp.ClientSession:
        """aiohttp's client, for WebSockets."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
            self._sessions[loop] = session
        return session


# --- answers of the forwarder's own (and of the apps in front of it) -----------------------------

PLAIN_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


async def respond(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """A whole HTTP answer, never cached."""
    headers = [*headers, (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def refuse(scope, send, status: int, body: bytes) -> None:
    """A plain refusal; for a WebSocket as an HTTP answer to its handshake where the ASGI server can
    send one, else a close (1008: uvicorn answers 403)."""
    if scope["type"] == "http":
        return await respond(send, status, body, PLAIN_TEXT)
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [*PLAIN_TEXT, (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


# --- HTTP ------------------------------------------------------------------------------------------


class _CallerGone(Exception):
    """The caller disconnected before its request's body ended."""


@functools.lru_cache(maxsize=256)
def _server(endpoint: Endpoint) -> tuple[Server, tuple[tuple[bytes, bytes], ...]]:
    """Where the endpoint's requests go, and its own headers as bytes."""
    tls = tls_context(endpoint.tls) if endpoint.url.startswith("https:") else None
    own = tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in endpoint.headers)
    return Server(endpoint.url, tls), own


def _forwarded(
    scope, dropped: frozenset[bytes], endpoint_headers: tuple, headers: Iterable[tuple[str, str]]
) -> list[tuple[bytes, bytes]]:
    named = _connection_named(scope["headers"])  # what the caller's Connection header lists is hop-by-hop
    forwarded = [
        (name, value)
        for name, value in scope["headers"]
        if name not in dropped and name not in named and not name.startswith(b"impersonate-")
    ]
    forwarded += endpoint_headers
    forwarded += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return forwarded


def _connection_named(headers) -> frozenset[bytes]:
    return frozenset(
        token.strip().lower()
        for name, value in headers
        if name == b"connection"
        for token in value.split(b",")
        if token.strip()
    )


def _content_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _rest_of_body(receive, first: bytes) -> AsyncIterator[bytes]:
    yield first
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _CallerGone
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


def _returned(response: Response, endpoint: Endpoint) -> list[tuple[bytes, bytes]]:
    headers = []
    for name, value in response.headers:
        if name in NOT_RETURNED:
            continue
        if name == b"location":
            value = _unprefixed_location(value, endpoint)
        headers.append((name, value))
    return headers


def _unprefixed_location(value: bytes, endpoint: Endpoint) -> bytes:
    """A redirect to the server's own address, or through the API server's proxy, means the caller's."""
    base, prefix = endpoint.url.encode(), endpoint.link_prefix.encode()
    if value.startswith(base):
        value = value[len(base) :] or b"/"
    if prefix and value.startswith(prefix + b"/"):
        value = value[len(prefix) :]
    return value


def _is_html(response: Response) -> bool:
    content_type = response.header(b"content-type") or b""
    return content_type.split(b";")[0].strip().lower() == b"text/html"


async def _send_page(send, response: Response, endpoint: Endpoint) -> None:
    """A page as the server wrote it: the API server's proxy put its own path before every absolute
    link (and compressed the page again); the caller reaches the server under its own paths."""
    body = await response.read()
    headers = _returned(response, endpoint)
    encoding = (response.header(b"content-encoding") or b"").strip().lower()
    if encoding in (b"", b"identity", b"gzip", b"deflate"):  # else the API server left the page alone too
        if encoding in (b"gzip", b"deflate"):
            body = zlib.decompress(body, wbits=47 if encoding == b"gzip" else -15)  # 47: a gzip header
        body = body.replace(endpoint.link_prefix.encode() + b"/", b"/")
        headers = [(name, value) for name, value in headers if name != b"content-encoding"]
    headers = [(name, value) for name, value in headers if name not in (b"content-length", b"cache-control")]
    await respond(send, response.status, body, headers)  # pages are never cached


# --- WebSocket -------------------------------------------------------------------------------------


async def _pump(receive, send, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Pass messages both ways until either side closes; then close the other."""

    async def from_caller() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(code=_closing(message.get("code")))
                return
            if message.get("bytes") is not None:
                await upstream.send_bytes(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send_str(message["text"])

    async def from_server() -> None:
        async for message in upstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                await send({"type": "websocket.send", "text": message.data})
            elif message.type == aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": message.data})
        with contextlib.suppress(Exception):  # the caller may be gone already
            await send({"type": "websocket.close", "code": _closing(upstream.close_code)})

    tasks = [asyncio.ensure_future(from_caller()), asyncio.ensure_future(from_server())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _closing(code: int | None) -> int:
    """A close code that may be sent (1005 and 1006 only describe what happened)."""
    return 1000 if code in (None, 1005, 1006) else code
