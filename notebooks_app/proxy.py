"""The authenticating proxy in front of every notebook: `/notebooks/{project}/{name}/...` (pure ASGI).

It lets in the console's session (cookie) and API tokens (`Authorization: Bearer`), and only for
those who may use the notebook (selectors.Access); everyone else gets a plain 404. Toward Jupyter it
sends the notebook's secret (`Authorization: token ...`) instead of the caller's credentials, and
no cookies; toward the caller it sends no cookie of Jupyter's. Jupyter itself keeps no token that
a page could show (jupyter_launch.py), so the secret never reaches a browser.

A notebook in a cluster the console is outside of is reached through the Kubernetes API server's
service proxy (`Endpoint.via_api_server`): the cluster's credentials go in `Authorization`, the
secret in a header of its own, and the API server's path prefix comes off pages and redirects.

Per request: one dictionary look-up while the caller's route is cached (ROUTE_TTL seconds; database
work happens off the event loop), and one pooled connection per process to the notebook's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import json
import logging
import ssl
import time
import weakref
import zlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import aiohttp
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http.cookie import parse_cookie

from mlplatform.compute.backends.base import Endpoint
from notebooks_app.selectors import Route

PREFIX = "/notebooks/"
ROUTE_TTL = 5.0  # seconds a caller's access and the notebook's address are trusted without a look-up
ROUTE_CACHE_SIZE = 10_000
SMALL_BODY = 64 * 1024  # request bodies up to this size are read whole; larger ones stream
# Header names as bytes, the form ASGI and aiohttp give them in: nothing to decode per request.
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
# The caller's credentials are the console's, not Jupyter's; the proxy checks the Origin itself.
NOT_TOWARD_JUPYTER = HOP_BY_HOP | {b"host", b"cookie", b"authorization", b"origin"}
# aiohttp makes its own handshake toward Jupyter.
NOT_TOWARD_JUPYTER_WEBSOCKET = NOT_TOWARD_JUPYTER | {
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
}
# Jupyter's cookies would land on the console's domain; the server adds its own date and name.
NOT_TOWARD_CALLER = HOP_BY_HOP | {b"set-cookie", b"date", b"server"}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SETTLING = {"QUEUED", "PROVISIONING", "STARTING", "STOPPING"}  # states the 503 page refreshes in


class QuietNotebookTraffic(logging.Filter):
    """Leaves what the proxy forwarded successfully out of the web server's access log: JupyterLab
    polls its server every few seconds per open tab, and Jupyter logs its own requests. Refusals
    and errors (4xx, 5xx) stay; LOG_LEVEL=DEBUG keeps everything."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:  # uvicorn's: client, method, path, version, status
            return True
        return not (str(args[2]).startswith(PREFIX) and isinstance(args[4], int) and args[4] < 400)


class NotebookProxy:
    """The ASGI app for paths under PREFIX (mlplatform.asgi routes them here)."""

    def __init__(self) -> None:
        self._routes: dict[tuple, tuple[float, Route | None]] = {}
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> session

    async def __call__(self, scope, receive, send) -> None:
        parts = scope["path"][len(PREFIX) :].split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            return await _deny(scope, send, 404)
        if len(parts) == 2:  # the notebook's root without its slash: Jupyter's base URL has one
            if scope["type"] == "websocket":
                return await _deny(scope, send, 404)
            return await _respond(send, 302, b"", [(b"location", f"{scope['path']}/".encode())])
        project, name = parts[0], parts[1]
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send, project, name)
        else:
            await self._http(scope, receive, send, project, name)

    # --- who may come in ---------------------------------------------------------------------

    async def _route(self, headers: dict[str, str], project: str, name: str) -> tuple[Route | None, str]:
        """The caller's route (None: not allowed) and how they authenticated ("" when they did not)."""
        credential = _credential(headers)
        if credential is None:
            return None, ""
        key = (*credential, project, name)
        now = time.monotonic()
        cached = self._routes.get(key)
        if cached is not None and cached[0] > now:
            return cached[1], credential[0]
        route = await sync_to_async(_look_up)(credential, project, name)
        if route is None or route.upstream is not None:  # a state page must show the next state at once
            if len(self._routes) >= ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[key] = (now + ROUTE_TTL, route)
        return route, credential[0]

    def forget(self, project: str | None = None, name: str | None = None) -> None:
        """Drop the cached routes to one notebook (its server went away), or all of them."""
        if project is None:
            self._routes.clear()
            return
        for key in [key for key in self._routes if key[2:] == (project, name)]:
            self._routes.pop(key, None)

    # --- HTTP --------------------------------------------------------------------------------

    async def _http(self, scope, receive, send, project: str, name: str) -> None:
        headers = _headers(scope)
        route, via = await self._route(headers, project, name)
        if route is None:
            if not via and scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
                return await _respond(send, 302, b"", [(b"location", _login_url(scope).encode())])
            return await _deny(scope, send, 404)
        if via == "session" and scope["method"] not in SAFE_METHODS and _cross_site(headers):
            return await _deny(scope, send, 403)
        if route.upstream is None:
            return await _unavailable(send, route, headers)
        body = await _request_body(receive, headers)
        upstream = route.upstream
        started = False
        try:
            async with self._client().request(
                scope["method"],
                upstream.url + _target(scope),
                headers=_toward_jupyter(scope, route.headers),
                data=body,
                allow_redirects=False,
                ssl=_tls(upstream.tls),
            ) as response:
                if upstream.link_prefix and _is_html(response.headers):
                    return await _send_html(send, response, upstream)
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": _toward_caller(response.raw_headers, upstream),
                    }
                )
                started = True
                length = response.content_length
                if length is not None and length <= SMALL_BODY:  # one message rather than a stream
                    await send({"type": "http.response.body", "body": await response.read()})
                    return
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (TimeoutError, aiohttp.ClientError):
            if not started:
                await _unavailable(send, await self._after_failure(headers, project, name), headers)

    async def _after_failure(self, headers: dict[str, str], project: str, name: str) -> Route:
        """The notebook's state now that its server did not answer (it stopped or moved)."""
        self.forget(project, name)
        route, _ = await self._route(headers, project, name)
        if route is None or route.upstream is not None:
            return Route(state="UNREACHABLE", reason="Its server does not answer; it may be restarting.")
        return route

    # --- WebSocket ---------------------------------------------------------------------------

    async def _websocket(self, scope, receive, send, project: str, name: str) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        headers = _headers(scope)
        route, via = await self._route(headers, project, name)
        if route is None:
            return await _deny(scope, send, 404)
        if via == "session" and _cross_site(headers):
            return await _deny(scope, send, 403)
        if route.upstream is None:
            return await _deny(scope, send, 503)
        try:
            upstream = await self._client().ws_connect(
                "ws" + route.upstream.url.removeprefix("http") + _target(scope),
                headers=_toward_jupyter(scope, route.headers, NOT_TOWARD_JUPYTER_WEBSOCKET),
                ssl=_tls(route.upstream.tls),
                protocols=scope.get("subprotocols") or (),
                max_msg_size=0,  # Jupyter decides; the proxy passes messages as they are
                autoping=True,
                compress=0,  # nor toward the caller (runconsole's web_server_options says why)
            )
        except aiohttp.WSServerHandshakeError as exc:
            return await _deny(scope, send, exc.status)
        except (TimeoutError, aiohttp.ClientError):
            self.forget(project, name)
            return await _deny(scope, send, 503)
        async with upstream:
            await send({"type": "websocket.accept", "subprotocol": upstream.protocol})
            await _pump(receive, send, upstream)

    # --- the pool ----------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        """One pooled session per event loop (the server has one; tests may have more)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.closed:
            client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
                auto_decompress=False,  # bodies pass through as Jupyter encoded them
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
            self._clients[loop] = client
        return client

    async def close(self) -> None:
        """Close the pool of the running event loop (at the server's shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()


# --- authentication (in a worker thread) --------------------------------------------------------


def _credential(headers: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "bearer", token.strip()
    session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    return ("session", session_key) if session_key else None


def _look_up(credential: tuple[str, str], project: str, name: str) -> Route | None:
    from notebooks_app.selectors import notebook_route

    close_old_connections()  # like a request: no connection outlives its usefulness
    try:
        user = _user(*credential)
        return notebook_route(project=project, name=name, user=user) if user is not None else None
    finally:
        close_old_connections()


def _user(kind: str, value: str):
    from mlplatform.core.errors import ApplicationError
    from mlplatform.core.services import api_token_authenticate

    if kind == "bearer":
        try:
            return api_token_authenticate(raw=value)[0]
        except ApplicationError:
            return None
    from importlib import import_module

    from django.contrib.auth import get_user

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=value)
    user = get_user(SimpleNamespace(session=store))  # checks the session's auth hash, as a request would
    return user if user.is_authenticated else None


def _cross_site(headers: dict[str, str]) -> bool:
    """Whether a browser sent this from another site (the session cookie's CSRF risk: Jupyter trusts
    the proxy's token and skips its own XSRF checks). No Origin: not a browser's cross-site request."""
    origin = headers.get("origin")
    if origin is None:
        return False
    host = headers.get("host", "")
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        host = headers["x-forwarded-host"].split(",")[0].strip()
    return urlsplit(origin).netloc != host and origin not in settings.CSRF_TRUSTED_ORIGINS


def _login_url(scope) -> str:
    from django.shortcuts import resolve_url

    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': scope['path']})}"


# --- forwarding ---------------------------------------------------------------------------------


def _headers(scope) -> dict[str, str]:
    """The request's headers by lowercase name; repeated ones (cookies) joined as HTTP allows."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in headers:
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    return headers


def _target(scope) -> str:
    """Path and query as the caller sent them (still percent-encoded), less any `token` parameter:
    Jupyter would prefer it to the proxy's header."""
    path = scope.get("raw_path") or quote(scope["path"]).encode()
    target = path.decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    if "token" in query:
        query = urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"])
    return f"{target}?{query}" if query else target


def _toward_jupyter(
    scope, route_headers: tuple[tuple[str, str], ...], dropped: frozenset[bytes] = NOT_TOWARD_JUPYTER
) -> list[tuple[str, str]]:
    """The caller's headers less its credentials (and `dropped`), plus the route's (the token, the
    cluster's)."""
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in scope["headers"]
        if name.lower() not in dropped
    ]
    headers.extend(route_headers)
    return headers


def _toward_caller(raw_headers, upstream: Endpoint) -> list[tuple[bytes, bytes]]:
    headers = []
    for name, value in raw_headers:
        lower = name.lower()
        if lower in NOT_TOWARD_CALLER:
            continue
        if lower == b"location":
            value = _unprefixed_location(value, upstream)
        headers.append((lower, value))
    return headers


def _unprefixed_location(value: bytes, upstream: Endpoint) -> bytes:
    """A redirect to Jupyter's own address, or through the API server's proxy, means the proxy's."""
    base, prefix = upstream.url.encode(), upstream.link_prefix.encode()
    if value.startswith(base):
        value = value[len(base) :] or b"/"
    if prefix and value.startswith(prefix + b"/"):
        value = value[len(prefix) :]
    return value


# --- through the Kubernetes API server's service proxy -----------------------------------------


@functools.lru_cache(maxsize=16)
def _tls(tls: tuple[bool, str | None, str | None, str | None]) -> ssl.SSLContext | bool:
    """aiohttp's `ssl` argument for an endpoint's (verify, CA, certificate, key), built once."""
    verify, ca_file, cert_file, key_file = tls
    if not verify:
        return False
    if ca_file is None and cert_file is None:
        return True
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def _is_html(headers) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == "text/html"


async def _send_html(send, response: aiohttp.ClientResponse, upstream: Endpoint) -> None:
    """A page as Jupyter wrote it: the API server's proxy put its own path before every absolute
    link (and compressed the page again); the caller reaches Jupyter under the console's paths."""
    body = await response.read()
    headers = _toward_caller(response.raw_headers, upstream)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity", "gzip", "deflate"):  # else the API server left the page alone too
        if encoding in ("gzip", "deflate"):
            body = zlib.decompress(body, wbits=47 if encoding == "gzip" else -15)  # 47: a gzip header
        body = body.replace(upstream.link_prefix.encode() + b"/", b"/")
        headers = [(name, value) for name, value in headers if name != b"content-encoding"]
    headers = [(name, value) for name, value in headers if name not in (b"content-length", b"cache-control")]
    await _respond(send, response.status, body, headers)  # pages are never cached


async def _request_body(receive, headers: dict[str, str]) -> bytes | AsyncIterator[bytes] | None:
    """None without a body; the whole body when it is small; else a stream of it."""
    length = headers.get("content-length")
    if length is None and "chunked" not in headers.get("transfer-encoding", ""):
        return None
    if length is not None and length.isdigit() and int(length) <= SMALL_BODY:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body") or message["type"] == "http.disconnect":
                return b"".join(chunks)
    return _stream(receive)


async def _stream(receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return


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

    async def from_jupyter() -> None:
        async for message in upstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                await send({"type": "websocket.send", "text": message.data})
            elif message.type == aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": message.data})
        with contextlib.suppress(Exception):  # the caller may be gone already
            await send({"type": "websocket.close", "code": _closing(upstream.close_code)})

    tasks = [asyncio.ensure_future(from_caller()), asyncio.ensure_future(from_jupyter())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _closing(code: int | None) -> int:
    """A close code that may be sent (1005 and 1006 only describe what happened)."""
    return 1000 if code in (None, 1005, 1006) else code


# --- answers of the proxy's own -------------------------------------------------------------------


async def _respond(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _deny(scope, send, status: int) -> None:
    """A plain refusal; for a WebSocket as an HTTP answer to its handshake where the server can."""
    body = {403: b"Forbidden.", 404: b"Not found.", 503: b"The notebook is not running."}.get(
        status, b"Refused."
    )
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if scope["type"] == "http":
        return await _respond(send, status, body, headers)
    if "websocket.http.response" in scope.get("extensions", {}):
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def _unavailable(send, route: Route, headers: dict[str, str]) -> None:
    """503 with the notebook's state: a small page that refreshes itself for browsers, JSON else."""
    waiting = f" (position {route.queue_position} in the queue)" if route.queue_position else ""
    message = f"The notebook is {route.state.lower()}{waiting}." + (
        f" {route.reason}" if route.reason else ""
    )
    extra = [(b"retry-after", b"5")]
    if "text/html" in headers.get("accept", ""):
        refresh = '<meta http-equiv="refresh" content="5">' if route.state in SETTLING else ""
        page = (
            f'<!doctype html><html><head><meta charset="utf-8">{refresh}<title>Notebook {route.state.lower()}'
            f"</title></head><body><h1>Notebook {route.state.lower()}</h1><p>{html.escape(message)}</p>"
            "</body></html>"
        )
        return await _respond(
            send, 503, page.encode(), [(b"content-type", b"text/html; charset=utf-8"), *extra]
        )
    body = {
        "detail": message,
        "state": route.state,
        "reason": route.reason,
        "queue_position": route.queue_position,
    }
    await _respond(send, 503, json.dumps(body).encode(), [(b"content-type", b"application/json"), *extra])
