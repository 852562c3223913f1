"""The services/proxy subresource of the test server, as the apiserver serves it."""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import re
import socket
import threading
import zlib
from email.message import Message
from typing import TYPE_CHECKING
from urllib.parse import SplitResult

from tests.kube.link_rewriting import HTML_CODINGS, proxied_url, rewrite_html, under
from tests.kube.resources import ApiError, unavailable
from tests.kube.streams import WATCH_LIMIT_SECONDS

if TYPE_CHECKING:
    from tests.kube.server import KubeApiServer

PROXY_PATH = re.compile(
    r"^/api/v1/namespaces/(?P<namespace>[^/]+)/services/(?P<name>[^/]+)/proxy(?P<path>/.*)?$"
)
_HOP_BY_HOP = frozenset(
    {"connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization"}
    | {"te", "trailer", "transfer-encoding", "upgrade"}
)
_CORS = frozenset(f"access-control-allow-{name}" for name in ("credentials", "headers", "methods", "origin"))


def service_and_port(name: str) -> tuple[str, str]:
    """The service and port ("" when none) of `svc`, `svc:port` or `scheme:svc:port`; https is
    served as http here. Raises ApiError (400) as the apiserver's SplitSchemeNamePort rejects."""
    parts = name.split(":")
    scheme, service, port = parts if len(parts) == 3 else ["", *parts, ""][:3]
    if len(parts) > 3 or not service or scheme not in ("", "http", "https"):
        raise ApiError(400, "BadRequest", f'invalid service request "{name}"')
    return service, port


def _is_upgrade(headers: Message) -> bool:
    connection = ",".join(headers.get_all("Connection") or [])
    return "upgrade" in connection.lower() and bool(headers.get("Upgrade"))


def _connection_tokens(headers: Message) -> set[str]:
    """Headers that a Connection header names: hop-by-hop too, so a proxy drops them."""
    values = headers.get_all("Connection") or []
    return {token.strip().lower() for value in values for token in value.split(",")}


def _backend_headers(headers: Message, client_ip: str, *, upgrade: bool) -> list[tuple[str, str]]:
    """The request's headers for the backend: never Authorization (the apiserver removes it once it
    has authenticated), without hop-by-hop headers and Content-Length (the body goes whole, with a
    length of its own) unless the connection is upgraded (then the request goes as it came), and the
    client appended to X-Forwarded-For as Go's proxies do."""
    dropped = {"authorization", "x-forwarded-for"}
    if not upgrade:
        dropped |= _HOP_BY_HOP | {"content-length"} | _connection_tokens(headers)
    kept = [(key, value) for key, value in headers.items() if key.lower() not in dropped]
    return [*kept, ("X-Forwarded-For", ", ".join([*(headers.get_all("X-Forwarded-For") or []), client_ip]))]


def _splice(client_reader, client: socket.socket, backend_reader, backend: socket.socket) -> None:
    """Copy bytes both ways until either side closes, then shut both (upgradeaware.go's two copies)."""

    def pump(reader, writer: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while data := reader.read1(65536):
                writer.sendall(data)
        for end in (client, backend):  # wakes the other direction's read
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    upstream = threading.Thread(target=pump, args=(client_reader, backend), name="kube-proxy-up", daemon=True)
    upstream.start()
    pump(backend_reader, client)
    upstream.join()


class ServiceProxy:
    """The handler's half that serves /api/v1/namespaces/{ns}/services/{name}/proxy[/{path}], as the
    apiserver's UpgradeAwareHandler and rewriting Transport do: authenticate, resolve the backend,
    then pass upgrades through as raw bytes, redirect the bare root to `.../proxy/`, and forward
    anything else with X-Forwarded-Uri, rewriting Location and HTML links on the way back. Not
    subject to `faults`. Plain requests go to the backend on a connection of their own."""

    def _proxy(self, api: KubeApiServer, method: str, url: SplitResult, query: dict, route: re.Match) -> None:
        api.requests.record("proxy", url.path, query)
        path = route["path"] or ""
        prefix = url.path[: route.start("path")] if path else url.path  # up to and including /proxy
        try:
            body = self._request_body()
            if not self.headers.get("Authorization"):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            address = api.service_address(route["namespace"], route["name"])
            if _is_upgrade(self.headers):
                self._upgrade(address, path)
            elif not path and method in ("GET", "HEAD"):
                location = url.path + "/" + (f"?{url.query}" if url.query else "")
                self._send(301, "Moved Permanently", [("Location", location), ("Content-Length", "0")])
            else:
                self._forward(method, address, prefix, path or "/", url.query, body)
        except ApiError as error:
            self._reply(error.code, "application/json", json.dumps(error.status()).encode())

    def _request_body(self) -> bytes | None:
        """The request's body, sent with Content-Length or chunked; None when it has none."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return b"".join(iter(self._request_chunk, b""))
        if self.headers.get("Content-Length"):
            return self.rfile.read(int(self.headers["Content-Length"]))
        return None

    def _request_chunk(self) -> bytes:
        size = int(self.rfile.readline().split(b";")[0], 16)
        data = self.rfile.read(size)
        if size:
            self.rfile.readline()  # the CRLF after the data
        else:
            while self.rfile.readline().strip():  # the last chunk's trailers, up to a blank line
                pass
        return data

    def _forward(self, method: str, address: str, prefix: str, path: str, query: str, body) -> None:
        host, port = address.rsplit(":", 1)
        backend = http.client.HTTPConnection(host, int(port), timeout=WATCH_LIMIT_SECONDS)
        headers = _backend_headers(self.headers, self.client_address[0], upgrade=False)
        headers.append(("X-Forwarded-Uri", under(prefix, path)))
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        try:
            target = path + (f"?{query}" if query else "")
            backend.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for key, value in headers:
                backend.putheader(key, value)
            backend.endheaders(body)
            response = backend.getresponse()
        except (OSError, http.client.HTTPException) as error:
            backend.close()
            raise unavailable(f"error trying to reach service: {error}") from error
        rewrite = functools.partial(
            proxied_url, prefix=prefix, backend_host=address, request_host=self.headers.get("Host", "")
        )
        with contextlib.closing(backend):
            self._pass_back(method, response, rewrite)

    def _pass_back(self, method: str, response: http.client.HTTPResponse, rewrite) -> None:
        """The backend's status, headers and body, less hop-by-hop and CORS headers (the apiserver
        drops both), with a Location rewritten or else an HTML body's links (Content-Length fixed)."""
        dropped = _HOP_BY_HOP | _CORS | _connection_tokens(response.msg)
        headers = [(key, value) for key, value in response.getheaders() if key.lower() not in dropped]
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        coding = HTML_CODINGS.get(response.getheader("Content-Encoding") or "")
        if response.getheader("Location"):
            headers = [(k, rewrite(v) if k.lower() == "location" else v) for k, v in headers]
        elif content_type == "text/html" and coding and method != "HEAD":
            decode, encode = coding
            try:
                html = rewrite_html(decode(response.read()).decode("latin-1"), rewrite)
            except (OSError, EOFError, zlib.error, http.client.HTTPException) as error:
                raise ApiError(500, "InternalError", f"failed to rewrite URLs: {error}") from error
            data = encode(html.encode("latin-1"))
            headers = [(key, value) for key, value in headers if key.lower() != "content-length"]
            self._send(response.status, response.reason, [*headers, ("Content-Length", str(len(data)))], data)
            return
        self._stream_back(method, response, headers)

    def _stream_back(self, method: str, response: http.client.HTTPResponse, headers: list) -> None:
        """The body piece by piece as the backend sends it: with its length when it gave one,
        otherwise chunked."""
        bodiless = method == "HEAD" or response.status in (204, 304) or response.status < 200
        chunked = not bodiless and response.length is None
        framing = [("Transfer-Encoding", "chunked")] if chunked else []
        self._send(response.status, response.reason, [*headers, *framing])
        try:
            while data := response.read1(65536):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # either side gave up mid-body

    def _upgrade(self, address: str, path: str) -> None:
        """Send the request as it came (less Authorization) on a connection of its own and, once the
        backend switches protocols, splice the two connections until either closes. As the apiserver
        (kubernetes#77142), the query is not passed on and X-Forwarded-Uri is not added."""
        host, port = address.rsplit(":", 1)
        try:
            backend = socket.create_connection((host, int(port)), timeout=WATCH_LIMIT_SECONDS)
        except OSError as error:
            raise ApiError(500, "InternalError", f"error dialing backend: {error}") from error
        headers = _backend_headers(self.headers, self.client_address[0], upgrade=True)
        head = f"{self.command} {path or '/'} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        response = http.client.HTTPResponse(backend, method=self.command)
        with contextlib.closing(backend), contextlib.closing(response):
            backend.sendall(head.encode("latin-1") + b"\r\n")
            response.begin()
            if response.status != 101 and response.status < 400:
                message = f"invalid upgrade response: status code {response.status}"
                raise ApiError(500, "InternalError", message)
            self.close_connection = True
            if response.status != 101:  # a refusal goes back as it is, then the connection ends
                self._pass_back(self.command, response, lambda url: url)
                return
            self._send(101, response.reason, response.getheaders())
            _splice(self.rfile, self.connection, response.fp, backend)

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], data: bytes = b"") -> None:
        self.send_response_only(status, reason)
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)
