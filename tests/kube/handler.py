"""The test server's HTTP side: requests to the API's verbs, watch and log streams, and the proxy."""

from __future__ import annotations

import itertools
import json
import select
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from tests.kube.resources import ApiError, Target
from tests.kube.service_proxy import PROXY_PATH, ServiceProxy

if TYPE_CHECKING:
    from tests.kube.server import KubeApiServer


class Handler(ServiceProxy, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    def do_HEAD(self):
        self._serve("HEAD")

    def do_OPTIONS(self):
        self._serve("OPTIONS")

    def _serve(self, method: str) -> None:
        api: KubeApiServer = self.server.api  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if route := PROXY_PATH.match(url.path):
            self._proxy(api, method, url, query, route)
            return
        if method in ("HEAD", "OPTIONS"):  # only the service proxy serves these
            self.send_error(501, f"Unsupported method ({method!r})")
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
            target = api.route(url.path)
            verb = _verb(method, target, query)
            api.requests.record(verb, url.path, query)
            fault = api.faults.draw(verb)
            if fault == "error":
                raise ApiError(api.faults.error_status, "InternalError", "injected fault")
            if fault == "conflict":
                raise ApiError(409, "Conflict", "injected conflict: the object has been modified")
            streams = target is not None and (verb == "watch" or target.subresource == "log")
            if fault == "delay" and streams:
                time.sleep(api.faults.delay_seconds)  # nothing arrives before the client's timeout
            if target is None:
                status, payload = 200, api.discovery(url.path)
            elif target.subresource == "log":
                self._stream_logs(api, target, query)
                return
            elif verb == "watch":
                events = api.watch(target, query, self._gone)
                self._stream("application/json", (json.dumps(event).encode() + b"\n" for event in events))
                return
            else:
                status, payload = api.serve(method, target, query, body)
            if fault == "delay":
                time.sleep(api.faults.delay_seconds)  # served, but answered after the client gave up
        except ApiError as error:
            status, payload = error.code, error.status()
        except (ValueError, KeyError, TypeError) as error:
            status, payload = 400, ApiError(400, "BadRequest", str(error)).status()
        self._reply(status, "application/json", json.dumps(payload).encode())

    def _stream_logs(self, api: KubeApiServer, target: Target, query: dict) -> None:
        lines, follow = api.logs(target, query, self._gone)
        text = "".join(line + "\n" for line in lines).encode()
        if query.get("follow") not in ("true", "1"):
            self._reply(200, "text/plain", text)
            return
        later = ((line + "\n").encode() for line in follow)
        self._stream("text/plain", itertools.chain([text] if text else [], later))

    def _reply(self, status: int, content_type: str, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _stream(self, content_type: str, chunks: Iterator[bytes]) -> None:
        """A chunked response, one chunk per event or log line, ending the connection afterwards."""
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for chunk in chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def _gone(self) -> bool:
        """Whether the client closed its end: a closed socket reads as ready with no data."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


def _verb(method: str, target: Target | None, query: dict) -> str:
    if target is None or (method == "GET" and target.name):
        return "get"
    if method == "GET":
        return "watch" if query.get("watch") in ("true", "1") else "list"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
