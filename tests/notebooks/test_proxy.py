"""The proxy's pure parts: what it forwards toward Jupyter and back, and what it calls cross-site."""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib

import pytest

from mlplatform.compute.backends.base import Endpoint
from notebooks_app.proxy import (
    QuietNotebookTraffic,
    _credential,
    _cross_site,
    _headers,
    _send_html,
    _target,
    _toward_caller,
    _toward_jupyter,
)
from notebooks_app.selectors import jupyter_headers

UPSTREAM = Endpoint("http://127.0.0.1:40001")
API_SERVER = Endpoint(
    "https://203.0.113.7:6443/api/v1/namespaces/team-a/services/lab-1a2b3c4d:8888/proxy",
    headers=(("authorization", "Bearer cluster-token"),),
    via_api_server=True,
)


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


def test_jupyter_gets_the_secret_instead_of_the_callers_credentials_and_cookies():
    request = scope(
        authorization="Bearer mlp_abc",
        cookie="sessionid=s1; csrftoken=c1",
        host="console.example",
        origin="https://console.example",
        connection="keep-alive",
        accept="application/json",
    )

    forwarded = dict(_toward_jupyter(request, jupyter_headers(UPSTREAM, "the-secret")))

    assert forwarded == {"accept": "application/json", "Authorization": "token the-secret"}


def test_through_the_api_server_the_cluster_token_goes_in_authorization_and_jupyters_beside_it():
    forwarded = dict(_toward_jupyter(scope(authorization="Bearer mlp_abc"), jupyter_headers(API_SERVER, "s")))

    assert forwarded == {"authorization": "Bearer cluster-token", "X-MLPlatform-Notebook-Token": "s"}


def test_redirects_through_the_api_server_lose_its_path_again():
    prefix = "/api/v1/namespaces/team-a/services/lab-1a2b3c4d:8888/proxy"
    raw = [(b"Location", f"{prefix}/notebooks/team-a/lab/lab?reset".encode())]

    assert _toward_caller(raw, API_SERVER) == [(b"location", b"/notebooks/team-a/lab/lab?reset")]
    assert _toward_caller([(b"Location", b"/elsewhere")], API_SERVER) == [(b"location", b"/elsewhere")]


def test_the_caller_gets_no_cookie_of_jupyters_and_its_own_address_for_jupyters():
    raw = [
        (b"Content-Type", b"text/html"),
        (b"Set-Cookie", b"_xsrf=2|abc; Path=/notebooks/team-a/lab/"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Server", b"TornadoServer/6.6"),
        (b"Location", f"{UPSTREAM.url}/notebooks/team-a/lab/lab".encode()),
    ]

    assert _toward_caller(raw, UPSTREAM) == [
        (b"content-type", b"text/html"),
        (b"location", b"/notebooks/team-a/lab/lab"),
    ]


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


class Page:
    """An HTML answer as aiohttp hands it over: the parts of ClientResponse that _send_html reads."""

    def __init__(self, body: bytes, encoding: str = ""):
        self.status = 200
        self.raw_headers = [(b"Content-Type", b"text/html; charset=UTF-8"), (b"Content-Length", b"1")]
        if encoding:
            self.raw_headers.append((b"Content-Encoding", encoding.encode()))
        self.headers = {k.decode().lower(): v.decode() for k, v in self.raw_headers}
        self._body = body

    async def read(self) -> bytes:
        return self._body


def sent_page(page: Page) -> tuple[dict, bytes]:
    messages = []

    async def send(message):
        messages.append(message)

    asyncio.run(_send_html(send, page, API_SERVER))
    return dict(messages[0]["headers"]), messages[1]["body"]


@pytest.mark.parametrize("encoding", ["", "gzip", "deflate"])
def test_pages_through_the_api_server_get_their_own_links_back_whatever_their_encoding(encoding):
    prefix = "/api/v1/namespaces/team-a/services/lab-1a2b3c4d:8888/proxy"
    html = f'<script src="{prefix}/notebooks/team-a/lab/static/main.js"></script>'.encode()
    if encoding == "gzip":
        body = gzip.compress(html)
    elif encoding == "deflate":  # raw DEFLATE, as the API server's Go writes it
        packer = zlib.compressobj(wbits=-15)
        body = packer.compress(html) + packer.flush()
    else:
        body = html

    headers, sent = sent_page(Page(body, encoding))

    assert sent == b'<script src="/notebooks/team-a/lab/static/main.js"></script>'
    assert b"content-encoding" not in headers
    assert headers[b"content-length"] == str(len(sent)).encode()


def test_a_page_in_an_encoding_the_api_server_does_not_rewrite_passes_as_it_is():
    headers, sent = sent_page(Page(b"\x1b\x2b-brotli", "br"))

    assert sent == b"\x1b\x2b-brotli"
    assert headers[b"content-encoding"] == b"br"


def access(path: str, status: int) -> logging.LogRecord:
    args = ("127.0.0.1:50000", "GET", path, "1.1", status)
    return logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)


def test_the_access_log_keeps_the_consoles_requests_and_the_proxys_refusals_not_jupyterlabs_polling():
    quiet = QuietNotebookTraffic()

    assert not quiet.filter(access("/notebooks/team-a/lab/api/kernels?1700000000", 200))
    assert quiet.filter(access("/notebooks/team-a/lab/api/kernels", 404))
    assert quiet.filter(access("/notebooks/team-a/lab/lab", 503))
    assert quiet.filter(access("/api/projects/team-a/notebooks/", 200))
    assert quiet.filter(logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "started", None, None))
