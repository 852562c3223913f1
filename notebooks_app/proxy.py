"""The authenticating proxy in front of every notebook: `/notebooks/{project}/{name}/...` (pure ASGI).

It lets in the console's session (cookie) and API tokens (`Authorization: Bearer`), and only for
those who may use the notebook (selectors.Access); everyone else gets a plain 404. Toward Jupyter it
sends the notebook's secret (`Authorization: token ...`) instead of the caller's credentials, and
no cookies; toward the caller it sends no cookie of Jupyter's. Jupyter itself keeps no token that
a page could show (jupyter_launch.py), so the secret never reaches a browser.

A notebook in a cluster the console is outside of is reached through the Kubernetes API server's
service proxy (`Endpoint.via_api_server`): the cluster's credentials go in `Authorization`, the
secret in a header of its own, and the API server's path prefix comes off pages and redirects.

The forwarding itself (headers, streaming, TLS, WebSockets, the API server's link prefix) is
compute's: mlplatform.compute.forwarding. Per request: one dictionary look-up while the caller's
route is cached (ROUTE_TTL seconds; database work happens off the event loop), and a kept
connection to the notebook's server.
"""

from __future__ import annotations

import functools
import html
import json
from types import SimpleNamespace
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http.cookie import parse_cookie

from mlplatform.compute.forwarding import Forwarder, RouteCache, refuse, respond
from mlplatform.core.errors import ApplicationError
from mlplatform.core.services import api_token_authenticate
from notebooks_app.selectors import Route, notebook_route

PREFIX = "/notebooks/"
ROUTE_TTL = 5.0  # seconds a caller's access and the notebook's address are trusted without a look-up
# The caller's credentials are the console's, not Jupyter's; the proxy checks the Origin itself.
NOT_TOWARD_JUPYTER = frozenset({b"cookie", b"authorization", b"origin"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SETTLING = {"QUEUED", "PROVISIONING", "STARTING", "STOPPING"}  # states the 503 page refreshes in


def is_proxied_path(path: str) -> bool:
    return path.startswith(PREFIX)


class NotebookProxy:
    """The ASGI app for paths under PREFIX (mlplatform.asgi routes them here)."""

    def __init__(self) -> None:
        self._routes: RouteCache[Route | None] = RouteCache(ttl=ROUTE_TTL)
        self.forwarder = Forwarder()

    async def __call__(self, scope, receive, send) -> None:
        parts = scope["path"][len(PREFIX) :].split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            return await _deny(scope, send, 404)
        if len(parts) == 2:  # the notebook's root without its slash: Jupyter's base URL has one
            if scope["type"] == "websocket":
                return await _deny(scope, send, 404)
            return await respond(send, 302, b"", [(b"location", f"{scope['path']}/".encode())])
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
        route = await self._routes.get(
            (*credential, project, name),
            lambda: sync_to_async(_look_up)(credential, project, name),
            # a state page (the notebook not serving yet) must show the next state at once
            keep=lambda route: route is None or route.upstream is not None,
        )
        return route, credential[0]

    def forget(self, project: str | None = None, name: str | None = None) -> None:
        """Drop the cached routes to one notebook (its server went away), or all of them."""
        self._routes.forget(None if project is None else lambda key: key[2:] == (project, name))

    # --- HTTP --------------------------------------------------------------------------------

    async def _http(self, scope, receive, send, project: str, name: str) -> None:
        headers = _headers(scope)
        route, via = await self._route(headers, project, name)
        if route is None:
            if not via and scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
                return await respond(send, 302, b"", [(b"location", _login_url(scope).encode())])
            return await _deny(scope, send, 404)
        if via == "session" and scope["method"] not in SAFE_METHODS and _cross_site(headers):
            return await _deny(scope, send, 403)
        if route.upstream is None:
            return await _unavailable(send, route, headers)
        await self.forwarder.http(
            route.upstream,
            scope,
            receive,
            send,
            target=_target(scope),
            headers=route.headers,
            drop=NOT_TOWARD_JUPYTER,
            unreachable=functools.partial(self._unreachable, send, headers, project, name),
        )

    async def _unreachable(self, send, headers: dict[str, str], project: str, name: str, why: str) -> None:
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
        await self.forwarder.websocket(
            route.upstream,
            scope,
            receive,
            send,
            target=_target(scope),
            headers=route.headers,
            drop=NOT_TOWARD_JUPYTER,
            unreachable=functools.partial(self._websocket_unreachable, scope, send, project, name),
        )

    async def _websocket_unreachable(self, scope, send, project: str, name: str, why: str) -> None:
        self.forget(project, name)
        await _deny(scope, send, 503)

    async def close(self) -> None:
        """Close the connections of the running event loop (at the server's shutdown)."""
        await self.forwarder.close()


# --- authentication (in a worker thread) --------------------------------------------------------


def _credential(headers: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "bearer", token.strip()
    session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    return ("session", session_key) if session_key else None


def _look_up(credential: tuple[str, str], project: str, name: str) -> Route | None:
    close_old_connections()  # like a request: no connection outlives its usefulness
    try:
        user = _user(*credential)
        return notebook_route(project=project, name=name, user=user) if user is not None else None
    finally:
        close_old_connections()


def _user(kind: str, value: str):
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


# --- what goes to Jupyter ----------------------------------------------------------------------


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


# --- answers of the proxy's own -------------------------------------------------------------------


async def _deny(scope, send, status: int) -> None:
    """A plain refusal; for a WebSocket as an HTTP answer to its handshake where the server can."""
    body = {403: b"Forbidden.", 404: b"Not found.", 503: b"The notebook is not running."}.get(
        status, b"Refused."
    )
    await refuse(scope, send, status, body)


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
        return await respond(
            send, 503, page.encode(), [(b"content-type", b"text/html; charset=utf-8"), *extra]
        )
    body = {
        "detail": message,
        "state": route.state,
        "reason": route.reason,
        "queue_position": route.queue_position,
    }
    await respond(send, 503, json.dumps(body).encode(), [(b"content-type", b"application/json"), *extra])
