"""The proxy's own parts: what it sends toward Jupyter (through compute's forwarder, to a real
server), whom it lets in, and what it calls cross-site."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from uvicorn.protocols.utils import get_path_with_query_string

from mlplatform.compute.backends.base import Endpoint
from notebooks_app.proxy import (
    NOT_TOWARD_JUPYTER,
    NotebookProxy,
    _credential,
    _cross_site,
    _headers,
    _target,
)
from notebooks_app.selectors import jupyter_token


def scope(path: str = "/notebooks/team-a/lab/api/contents/a%20b.txt", query: bytes = b"", **headers) -> dict:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {
        "type": "http",
        "path": path.replace("%20", " "),
        "raw_path": path.encode(),
        "query_string": query,
        "headers": raw,
    }


def test_the_path_goes_as_sent_and_a_token_parameter_is_dropped():
    assert _target(scope()) == "/notebooks/team-a/lab/api/contents/a%20b.txt"
    assert (
        _target(scope(query=b"content=1&token=guess"))
        == "/notebooks/team-a/lab/api/contents/a%20b.txt?content=1"
    )
    assert _target(scope(query=b"type=file")).endswith("?type=file")


def headers_at_jupyter(request: dict, endpoint: Endpoint) -> dict[str, str]:
    """The headers a server at `endpoint`'s path (on a loopback port) gets for `request`, forwarded
    as the proxy forwards: what it withholds left out, the notebook's token added."""

    async def echo(incoming: web.Request) -> web.Response:
        return web.json_response({name.lower(): value for name, value in incoming.headers.items()})

    async def run() -> dict[str, str]:
        app = web.Application()
        app.router.add_get("/{tail:.*}", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        upstream = Endpoint(
            f"http://127.0.0.1:{runner.addresses[0][1]}{endpoint.url}",
            headers=endpoint.headers,
            via_api_server=endpoint.via_api_server,
        )
        messages = []

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            messages.append(message)

        proxy = NotebookProxy()
        try:
            await proxy.forwarder.http(
                upstream,
                {**request, "method": "GET"},
                receive,
                send,
                target=_target(request),
                headers=(jupyter_token(upstream, "the-secret"),),
                drop=NOT_TOWARD_JUPYTER,
            )
        finally:
            await proxy.close()
            await runner.cleanup()
        return json.loads(messages[-1]["body"])

    return asyncio.run(run())


def test_jupyter_gets_the_secret_instead_of_the_callers_credentials_and_cookies():
    request = scope(
        authorization="Bearer mlp_abc",
        cookie="sessionid=s1; csrftoken=c1",
        host="console.example",
        origin="https://console.example",
        connection="keep-alive",
        accept="application/json",
    )

    forwarded = headers_at_jupyter(request, Endpoint(""))

    assert forwarded["authorization"] == "token the-secret"
    assert forwarded["accept"] == "application/json"
    assert not {"cookie", "origin", "connection"} & set(forwarded)
    assert forwarded["host"].startswith("127.0.0.1:")


def test_through_the_api_server_the_cluster_token_goes_in_authorization_and_jupyters_beside_it():
    through = Endpoint(
        "/api/v1/namespaces/team-a/services/lab-1a2b3c4d:8888/proxy",
        headers=(("Authorization", "Bearer cluster-token"),),
        via_api_server=True,
    )

    forwarded = headers_at_jupyter(scope(authorization="Bearer mlp_abc"), through)

    assert forwarded["authorization"] == "Bearer cluster-token"
    assert forwarded["x-mlplatform-notebook-token"] == "the-secret"


def test_bearer_tokens_come_first_then_the_session_cookie():
    assert _credential({"authorization": "Bearer mlp_x", "cookie": "sessionid=s1"}) == ("bearer", "mlp_x")
    assert _credential({"authorization": "token jupyters", "cookie": "a=1; sessionid=s1"}) == (
        "session",
        "s1",
    )
    assert _credential({"cookie": "csrftoken=c"}) is None
    assert _credential({}) is None


def test_only_another_sites_origin_is_cross_site():
    assert not _cross_site({"host": "console.example"})
    assert not _cross_site({"host": "console.example", "origin": "https://console.example"})
    assert _cross_site({"host": "console.example", "origin": "https://evil.example"})
    assert _cross_site({"host": "console.example", "origin": "null"})


def test_repeated_headers_are_joined_as_http_allows():
    request = {
        "headers": [(b"Cookie", b"a=1"), (b"cookie", b"sessionid=s"), (b"Accept", b"a"), (b"accept", b"b")]
    }

    assert _headers(request) == {"cookie": "a=1; sessionid=s", "accept": "a, b"}


def access(path: str, status: int) -> logging.LogRecord:
    """uvicorn's access log record for a request to `path` (its query string after a ?)."""
    path, _, query = path.partition("?")
    logged = get_path_with_query_string({"path": path, "query_string": query.encode()})
    args = ("127.0.0.1:50000", "GET", logged, "1.1", status)
    return logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)


def test_the_access_log_keeps_the_consoles_requests_and_the_refusals_not_polling_or_predictions():
    from mlplatform.asgi import quiet_access_log as quiet  # sets up the ASGI application

    assert not quiet.filter(access("/notebooks/team-a/lab/api/kernels?1700000000", 200))
    assert not quiet.filter(access("/v1/projects/team-a/models/m/versions/v1:predict", 200))
    assert quiet.filter(access("/v1/projects/team-a/models/m:predict", 400))
    assert quiet.filter(access("/notebooks/team-a/lab/api/kernels", 404))
    assert quiet.filter(access("/notebooks/team-a/lab/lab", 503))
    assert quiet.filter(access("/api/projects/team-a/notebooks/", 200))
    assert quiet.filter(logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "started", None, None))
