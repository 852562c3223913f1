"""Benchmark: what compute's forwarder adds to a small REST call (an online `:predict`'s size).

    python -m benchmarks.forwarder

A small model-server stand-in (a raw ASGI app under uvicorn, in its own process) answers a GET of
~100 bytes of JSON and a POST of a ~200-byte instance list; each is called straight and through
the forwarder alone (uvicorn serving an app that forwards every request to it, as the console's
web server runs), interleaved in blocks on kept connections. Prints one JSON object: p50/p90 in
milliseconds, what the forwarder adds at p50, and the ratio (aim: adds at most AIM_ADDED_MS).
benchmarks/notebooks.py puts the forwarder beside the whole notebook proxy, in front of Jupyter.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

CALLS = 2000
BLOCK = 50  # calls per block; the legs' blocks alternate
WARM_UP = 100
AIM_ADDED_MS = 0.3
ANSWER = json.dumps({"started": "2025-01-01T00:00:00Z", "connections": 0, "kernels": 0}).encode()
INSTANCES = json.dumps({"instances": [[0.1 * i for i in range(4)] for _ in range(8)]}).encode()


def main() -> None:
    sys.path.insert(0, os.getcwd())
    with (
        served("benchmarks.forwarder:model_server") as upstream,
        served("benchmarks.forwarder:forwarding_app", factory=True, FORWARD_TO=upstream) as forwarder,
    ):
        legs = {"direct": upstream, "forwarder": forwarder}
        figures = {
            "benchmark": "forwarder",
            "get": side_by_side({leg: caller(url, "GET") for leg, url in legs.items()}, CALLS),
            "post": side_by_side({leg: caller(url, "POST") for leg, url in legs.items()}, CALLS),
            "aim_added_ms_under": AIM_ADDED_MS,
        }
    print(json.dumps(figures, indent=2))


# --- what runs in the servers ------------------------------------------------------------------------


async def model_server(scope, receive, send) -> None:
    """Answers every request with ANSWER once its body is in."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def forwarding_app():
    """The app that forwards to FORWARD_TO (with FORWARD_HEADERS, a JSON list of pairs): uvicorn's
    --factory builds it in the server's process."""
    from mlplatform.compute.backends.base import Endpoint
    from mlplatform.compute.forwarding import Forwarder

    endpoint = Endpoint(
        os.environ["FORWARD_TO"],
        headers=tuple(map(tuple, json.loads(os.environ.get("FORWARD_HEADERS", "[]")))),
    )
    forwarder = Forwarder()

    async def app(scope, receive, send) -> None:
        """Every request and WebSocket to the endpoint, the caller's credentials withheld."""
        if scope["type"] not in ("http", "websocket"):
            return
        query = scope["query_string"].decode("latin-1")
        target = scope["raw_path"].decode("latin-1") + (f"?{query}" if query else "")
        withheld = frozenset({b"authorization", b"cookie"})
        if scope["type"] == "websocket":
            await receive()
            return await forwarder.websocket(endpoint, scope, receive, send, target=target, drop=withheld)
        await forwarder.http(endpoint, scope, receive, send, target=target, drop=withheld)

    return app


# --- measuring ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def served(app: str, *, factory: bool = False, **env: str) -> Iterator[str]:
    """`app` (or what the `factory` makes) under uvicorn in its own process, with the console's web
    server options; its URL."""
    port = _free_port()
    options = [app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    options += ["--ws", "websockets", "--ws-per-message-deflate", "false"]  # as runconsole's
    options += ["--factory"] if factory else []
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", *options], env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def caller(
    url: str, method: str, path: str = "/api/status", headers: dict | None = None
) -> Callable[[], float]:
    """One small call on a kept connection, timed in seconds."""
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)
    body = INSTANCES if method == "POST" else None
    headers = {"Accept": "application/json", **(headers or {})}
    if body is not None:
        headers["Content-Type"] = "application/json"

    def once() -> float:
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        took = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{method} {url}{path}: {response.status}")
        return took

    return once


def side_by_side(legs: dict[str, Callable[[], float]], calls: int) -> dict:
    """Warm every leg up, then alternate blocks of calls; milliseconds of each leg, and what each
    adds to the first (the direct one) and its ratio to it, at p50."""
    for once in legs.values():
        for _ in range(WARM_UP):
            once()
    times: dict[str, list[float]] = {leg: [] for leg in legs}
    for _ in range(calls // BLOCK):
        for leg, once in legs.items():
            times[leg] += [once() for _ in range(BLOCK)]
    (first, base), *others = times.items()
    base_p50 = statistics.median(base)
    figures: dict = {"calls": calls // BLOCK * BLOCK, f"{first}_ms_p50": _ms(base_p50)}
    figures[f"{first}_ms_p90"] = _ms(_quantile(base, 90))
    for leg, values in others:
        p50 = statistics.median(values)
        figures[f"{leg}_ms_p50"] = _ms(p50)
        figures[f"{leg}_ms_p90"] = _ms(_quantile(values, 90))
        figures[f"{leg}_added_ms_p50"] = _ms(p50 - base_p50)
        figures[f"{leg}_ratio_p50"] = round(p50 / base_p50, 2)
    return figures


def _quantile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100)[percent - 1]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
