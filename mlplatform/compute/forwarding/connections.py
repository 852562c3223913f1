"""Kept HTTP/1.1 connections to a workload's server: asyncio protocols with httptools' parser (the
C parser uvicorn reads requests with), a few idle connections per server, TLS as an Endpoint says.

Why not aiohttp's client or httpcore: behind uvicorn, a small REST call through aiohttp's client
added 0.46-0.60 ms to a 0.2 ms call, h11 over asyncio streams about as much, httpcore 1.1-1.6 ms
(anyio's streams); this adds 0.2-0.3 ms (benchmarks/forwarder.py measures it).
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from urllib.parse import urlsplit

import httptools

CONNECT_TIMEOUT = 10.0  # seconds; an answer may take as long as the server needs
KEEP_IDLE = 4.0  # seconds an idle connection is kept: under uvicorn's 5, so no POST meets a closing one
MAX_IDLE = 100  # idle connections kept per server
HIGH_WATER = 256 * 1024  # answer bytes buffered before reading from the server pauses
# Methods that may be sent again when a kept connection turns out closed before any answer.
# Nothing that could end a line reaches a request's head (a decoded %0d%0a would split it).
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")
_UNSAFE_HEADER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class UpstreamError(Exception):
    """The server could not be reached, or the connection ended before the answer did."""


class Server:
    """One server: where to connect, the Host header and TLS context requests to it carry, and the
    path their targets go under (the URL's: a service proxy's)."""

    __slots__ = ("authority", "host", "key", "path", "port", "tls")

    def __init__(self, url: str, tls: ssl.SSLContext | None):
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = tls if parts.scheme == "https" else None
        self.authority = parts.netloc.rpartition("@")[2].encode("idna")
        self.path = parts.path.encode("latin-1")
        self.key = (self.host, self.port, self.tls)  # requests to one server share its connections


@functools.lru_cache(maxsize=16)
def tls_context(tls: tuple[bool, str | None, str | None, str | None]) -> ssl.SSLContext:
    """The TLS context for an Endpoint's (verify, CA file, client certificate, client key), built once."""
    verify, ca_file, cert_file, key_file = tls
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:  # presented even when the server's is not checked
        context.load_cert_chain(cert_file, key_file)
    return context


class Response:
    """An answer whose headers have arrived; its body arrives on its own (`chunks`, `read`)."""

    def __init__(self, connection: _Connection):
        self._connection = connection
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []  # names in lowercase
        self.content_length: int | None = None
        self.framed = False  # the body's end is declared (a length, chunks), not the connection's
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future | None = None

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives. Raises UpstreamError when the server stops before its end."""
        while True:
            if self._chunks:
                chunks, self._chunks, self._buffered = self._chunks, [], 0
                if not self._complete:  # once complete, the connection may carry another answer
                    self._connection.resume()
                for chunk in chunks:
                    yield chunk
                continue
            if self._error is not None:
                raise self._error
            if self._complete:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        """Give up on the rest of the body: the connection goes (it cannot carry another request)."""
        if not self._complete:
            self._connection.abort()

    # --- fed by the connection ---

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > HIGH_WATER:
            self._connection.pause()
        self._wake()

    def _end(self, error: UpstreamError | None = None) -> None:
        self._complete = error is None
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Connection(asyncio.Protocol):
    """One connection and the request on it; the parser calls the `on_*` methods."""

    def __init__(self, pool: ConnectionPool, server: Server):
        self.pool, self.server = pool, server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.head_only = False  # a HEAD request: its answer has no body whatever its headers say
        self.sent = False  # the whole request is written
        self.response: Response | None = None
        self.started: asyncio.Future | None = None  # resolves once the answer's headers are in
        self._headers: list[tuple[bytes, bytes]] = []
        self._informational = False
        self._paused = False
        self._writable: asyncio.Future | None = None

    # --- asyncio's side ---

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # requests and answers are small and go at once
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"the server's answer is not HTTP/1.1 ({exc})"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._forget(self)
        response = self.response
        if response is not None and self.started is not None and self.started.done() and not response.framed:
            response._end()  # a body that lasts until the connection ends, as HTTP/1.0's
        else:
            self._fail(UpstreamError(f"the connection closed{f' ({exc})' if exc else ''}"))
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # --- the parser's side ---

    def on_message_begin(self) -> None:
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue, 103 Early Hints: the answer comes after
            self._informational = True
            return
        response = self.response
        if response is None or self.started is None:
            raise UpstreamError("an answer to no request")
        response.status, response.headers = status, self._headers
        length = response.header(b"content-length")
        response.content_length = int(length) if length is not None and length.isdigit() else None
        # Any transfer coding frames the body (the parser refuses one it cannot read to its end).
        response.framed = length is not None or response.header(b"transfer-encoding") is not None
        self.started.set_result(response)
        if self.head_only:  # the parser would wait for the body the headers describe
            response._end()
            self.response = None
            self.abort()

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        response, self.response = self.response, None
        if response is None:
            return
        response._end()
        if self.sent and self.parser.should_keep_alive():  # an answer before the request's end: gone
            self.resume()  # a pause was this answer's back-pressure: the next answer must be read
            self.pool._release(self)
        else:
            self.abort()

    # --- the request's side ---

    def begin(self, head_only: bool) -> asyncio.Future:
        """A new request on this connection: the future of its answer's headers."""
        self.head_only, self.sent = head_only, False
        self.response = Response(self)
        self.started = asyncio.get_running_loop().create_future()
        return self.started

    async def write(self, data: bytes, *, last: bool = False) -> None:
        """Send `data` (`last`: the request's end), waiting while the server reads slower than the
        caller sends."""
        if self.closed:
            raise UpstreamError("the connection closed")
        self.transport.write(data)
        self.sent = last
        if self._writable is not None:
            await self._writable

    def pause(self) -> None:
        if not self._paused and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.close()
            self.closed = True
            self.pool._forget(self)

    def _fail(self, error: UpstreamError) -> None:
        if self.started is not None and not self.started.done():
            self.started.set_exception(error)
        elif self.response is not None:
            self.response._end(error)
        self.response = None


class ConnectionPool:
    """Idle connections by server, for one event loop."""

    def __init__(self) -> None:
        self._idle: dict[tuple, list[_Connection]] = {}

    async def request(
        self,
        server: Server,
        method: str,
        target: str,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] = b"",
        *,
        length: int | None = None,
    ) -> Response:
        """Send a request for `target` (under the server's path); the answer once its headers are in.
        `body` is whole (`length` its size, None: no Content-Length) or a stream (`length` None:
        sent chunked). Raises UpstreamError
        when no answer came (a request on a kept connection the server had closed is sent again
        on a new one, if it may be)."""
        if _UNSAFE_TARGET.search(target) or any(
            _UNSAFE_HEADER.search(name) or _UNSAFE_HEADER.search(value) for name, value in headers
        ):
            raise UpstreamError("a request target or header with control characters is not sent")
        head = [
            method.encode(),
            b" ",
            server.path,
            target.encode("latin-1"),
            b" HTTP/1.1\r\nhost: ",
            server.authority,
        ]
        for name, value in headers:
            head += (b"\r\n", name, b": ", value)
        if length is not None:
            head += (b"\r\ncontent-length: ", str(length).encode())
        elif not isinstance(body, bytes):
            head.append(b"\r\ntransfer-encoding: chunked")
        head.append(b"\r\n\r\n")
        head_bytes = b"".join(head)
        again = isinstance(body, bytes) and method in IDEMPOTENT
        while True:
            connection, reused = await self._connection(server)
            try:
                return await self._send(connection, method, head_bytes, body, length)
            except UpstreamError:
                connection.abort()
                if not (reused and again):
                    raise
                again = False
            except BaseException:
                connection.abort()
                raise

    async def close(self) -> None:
        for connections in list(self._idle.values()):
            for connection in list(connections):
                connection.abort()
        self._idle.clear()

    async def _send(self, connection: _Connection, method: str, head: bytes, body, length) -> Response:
        started = connection.begin(method == "HEAD")
        try:
            if isinstance(body, bytes):
                await connection.write(head + body, last=True)
            else:
                await connection.write(head)
                async for chunk in body:
                    if started.done():  # the server answered before the body's end (an error, say)
                        break
                    if chunk and length is None:
                        chunk = b"%x\r\n%b\r\n" % (len(chunk), chunk)
                    if chunk:
                        await connection.write(chunk)
                else:
                    await connection.write(b"" if length is not None else b"0\r\n\r\n", last=True)
        except UpstreamError:
            if not started.done() or started.exception() is not None:
                raise
        return await started

    async def _connection(self, server: Server) -> tuple[_Connection, bool]:
        """An idle connection to `server` (True: kept from before), else a new one."""
        idle = self._idle.get(server.key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < KEEP_IDLE:
                return connection, True
            connection.abort()
        loop, where = asyncio.get_running_loop(), f"{server.host}:{server.port}"
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self, server),
                    server.host,
                    server.port,
                    ssl=server.tls,
                    server_hostname=server.host if server.tls else None,
                ),
                CONNECT_TIMEOUT,
            )
        except TimeoutError as exc:
            raise UpstreamError(f"no connection to {where} in {CONNECT_TIMEOUT:g} s") from exc
        except OSError as exc:  # ssl.SSLError among them
            raise UpstreamError(f"no connection to {where} ({exc.strerror or exc})") from exc
        return connection, False

    def _release(self, connection: _Connection) -> None:
        idle = self._idle.setdefault(connection.server.key, [])
        if len(idle) >= MAX_IDLE:
            connection.abort()
            return
        connection.idle_since = time.monotonic()
        connection.started = None
        idle.append(connection)

    def _forget(self, connection: _Connection) -> None:
        idle = self._idle.get(connection.server.key)
        if idle and connection in idle:
            idle.remove(connection)
