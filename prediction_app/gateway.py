"""`projects.predict`, served before Django (pure ASGI): `POST /v1/projects/{p}/models/{m}:predict`
(the model's default version) and `.../models/{m}/versions/{v}:predict`.

Every call carries a bearer token; the caller's role is checked on every call, from a look-up
cached ROUTE_TTL seconds (database work happens off the event loop): outsiders get 404, viewers
403 (AI Platform gives `ml.models.predict` to developers, not viewers: selectors.PREDICT_ROLE).
Bodies over Google's limit are refused with its words, bodies that are not JSON too; the rest goes
to the version's replica through compute's forwarder as it came, and the predictor's answer comes
back as it is: `{"predictions": [...]}`, or a 400 `{"error": "Prediction failed: ..."}`, the body
AI Platform itself answers for prediction errors. The web server's access log leaves out the
predictions served (compute.forwarding.access_log); a model with onlinePredictionLogging on gets a
line for each in the `mlplatform.prediction.access` log, as AI Platform's. What was served is
counted in memory and written every FLUSH_SECONDS at most (lastUseTime and a traffic row per
version and minute).

Django serves the same routes (gcp_apis.PredictApi) by running this app, for WSGI servers and
tests; uvicorn (mlplatform.asgi) sends them here first.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from mlplatform.compute.forwarding import Forwarder, RouteCache, respond
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.services import api_token_authenticate
from mlplatform.gcp.errors import google_error_body
from prediction_app.selectors import PredictRoute, predict_route
from prediction_app.services import versions_record_use

PATH = re.compile(r"^/v1/projects/([^/:]+)/models/([^/:]+)(?:/versions/([^/:]+))?:predict\Z")
MAX_BODY = 1_572_864  # AI Platform's online prediction limit, in bytes
TOO_LARGE = f"Request payload size exceeds the limit: {MAX_BODY} bytes."
ROUTE_TTL = 5.0  # seconds a caller's access and the version's address are trusted without a look-up
FLUSH_SECONDS = 10.0
NOT_TOWARD_PREDICTOR = frozenset({b"authorization", b"cookie"})
JSON = [(b"content-type", b"application/json")]

access_log = logging.getLogger("mlplatform.prediction.access")

Send = Callable[[dict], Awaitable[None]]


def is_predict_path(path: str) -> bool:
    return path.startswith("/v1/projects/") and path.endswith(":predict")


class PredictGateway:
    """The ASGI app for `:predict` paths (is_predict_path)."""

    def __init__(self) -> None:
        self._routes: RouteCache[PredictRoute | None] = RouteCache(ttl=ROUTE_TTL)
        self._uses: dict[int, list] = {}  # version id -> [last use, requests, errors, milliseconds]
        self._flushed = time.monotonic()
        self.forwarder = Forwarder()

    async def __call__(self, scope, receive, send) -> None:
        token = _bearer(scope)
        await self.predict(scope, receive, send, credential=("bearer", token) if token else None)

    async def predict(
        self, scope, receive, send, *, credential: tuple[str, object] | None, in_request: bool = False
    ) -> None:
        """Answer one `:predict` call of the caller `credential`: ("bearer", token), or ("user", the
        user) where the console has authenticated them already. `in_request`: Django runs this for a
        request of its own, whose database connection is the request's to manage."""
        match = PATH.match(scope["path"])
        if match is None:
            return await _error(send, ErrorCode.NOT_FOUND, f"Method not found: {scope['path']}")
        if scope["method"] != "POST":
            return await _error(send, ErrorCode.UNIMPLEMENTED, "projects.predict is POST only.", status=405)
        if credential is None:
            return await _error(send, ErrorCode.UNAUTHENTICATED, "Request is missing a bearer token.")
        length = _content_length(scope)
        if length is not None and length > MAX_BODY:
            return await _error(send, ErrorCode.INVALID_ARGUMENT, TOO_LARGE)
        project, model, version = match.groups()
        route = await self._route(credential, project, model, version, in_request)
        if route is None:
            return await _error(send, ErrorCode.NOT_FOUND, f"Project '{project}' was not found.")
        if route.refusal is not None:
            return await _error(send, *route.refusal)
        body = await _body(receive)
        if body is None:
            return
        if len(body) > MAX_BODY:
            return await _error(send, ErrorCode.INVALID_ARGUMENT, TOO_LARGE)
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return await _error(send, ErrorCode.INVALID_ARGUMENT, f"Invalid JSON payload received. {exc}")
        started = time.monotonic()
        status = [502]

        async def counted(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        async def unreachable(why: str) -> None:
            self.forget()
            await _error(send, ErrorCode.UNAVAILABLE, f"The version's server did not answer: {why}.")

        await self.forwarder.http(
            route.upstream,
            scope,
            _replay(body),
            counted,
            target=route.target,
            drop=NOT_TOWARD_PREDICTOR,
            unreachable=unreachable,
        )
        milliseconds = (time.monotonic() - started) * 1000
        if route.logged:
            client = scope.get("client") or ("", 0)
            access_log.info('%s "POST %s" %d %.1f ms', client[0], scope["path"], status[0], milliseconds)
        await self._count(route.version_id, status[0], milliseconds, in_request)

    # --- who may call, and where it goes -----------------------------------------------------------

    async def _route(
        self, credential, project: str, model: str, version: str | None, in_request: bool
    ) -> PredictRoute | None:
        return await self._routes.get(
            (credential[0], _key(credential[1]), project, model, version),
            lambda: sync_to_async(_look_up)(credential, project, model, version, in_request),
            keep=_trusted,
            renew=not in_request,
        )

    def forget(self) -> None:
        """Drop every cached route (a server went away, or a test changed who may call)."""
        self._routes.forget()

    # --- use ------------------------------------------------------------------------------------------

    async def _count(self, version_id: int, status: int, milliseconds: float, in_request: bool) -> None:
        use = self._uses.setdefault(version_id, [None, 0, 0, 0.0])
        use[0] = datetime.now(UTC)
        use[1] += 1
        use[2] += status >= 400
        use[3] += milliseconds
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            await self.flush(in_request=in_request)

    async def flush(self, *, in_request: bool = False) -> None:
        """Write what was counted since the last flush (one update and one traffic row per version)."""
        uses, self._uses, self._flushed = self._uses, {}, time.monotonic()
        if uses:
            await sync_to_async(_record)({pk: tuple(use) for pk, use in uses.items()}, in_request)

    async def close(self) -> None:
        await self.flush()
        await self.forwarder.close()


def _trusted(route: PredictRoute | None) -> bool:
    """Answers kept for ROUTE_TTL: who may call and where it goes; a version not serving yet is
    looked up again on the next call."""
    return route is None or route.refusal is None or route.refusal[0] == ErrorCode.PERMISSION_DENIED


# --- in a worker thread ---------------------------------------------------------------------------


def _look_up(
    credential, project: str, model: str, version: str | None, in_request: bool
) -> PredictRoute | None:
    with _connection(in_request):
        kind, value = credential
        if kind == "user":
            user = value
        else:
            try:
                user = api_token_authenticate(raw=value)[0]
            except ApplicationError:
                return None
        return predict_route(project=project, model=model, version=version, user=user)


def _record(uses: dict, in_request: bool) -> None:
    with _connection(in_request):
        versions_record_use(uses=uses)


@contextlib.contextmanager
def _connection(in_request: bool):
    """Like a request of its own, no database connection outlives its usefulness; within one of
    Django's requests, the connection is the request's."""
    if in_request:
        yield
        return
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


# --- HTTP ---------------------------------------------------------------------------------------------


def _key(value) -> object:
    return getattr(value, "pk", value)


def _bearer(scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _content_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _body(receive) -> bytes | None:
    """The whole request body, or None where the caller went away; reading stops past the limit."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY or not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _error(send: Send, code: ErrorCode, message: str, *, status: int | None = None) -> None:
    headers = list(JSON)
    if code == ErrorCode.UNAUTHENTICATED:
        headers.append((b"www-authenticate", b'Bearer realm="api"'))
    status = status or code.http_status
    await respond(send, status, orjson.dumps(google_error_body(code, message, http_status=status)), headers)


predict_gateway = PredictGateway()
