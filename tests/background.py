"""Servers the tests run in a thread of their own: a stdlib http.server (a stand-in), an aiohttp
app in its own event loop (a workload's server, a JupyterLab stand-in) and uvicorn serving an ASGI
app (the console, a front that forwards). Each is stopped when its block ends, failed test or not."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import requests
import uvicorn
from aiohttp import web

from mlplatform.core.management.commands.runconsole import web_server_options
from tests.stores import free_port

START_SECONDS = 20


@contextmanager
def http_serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """`server` (bound already) serving in a thread; yields its http:// URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def aiohttp_serving(app: web.Application, name: str) -> Iterator[str]:
    """`app` on 127.0.0.1 in its own event loop thread; yields its host:port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


@contextmanager
def uvicorn_serving(config: uvicorn.Config) -> Iterator[uvicorn.Server]:
    """uvicorn with `config`, once it has started."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def console_database_url(*, user: str | None = None) -> str:
    """DATABASE_URL of the test database (which pytest-django named), as `user` when given: for a
    console process of a test's own."""
    from django.db import connection  # Django is set up by the time a test asks

    server = urlsplit(os.environ["DATABASE_URL"])
    credentials, _, host = server.netloc.rpartition("@")
    netloc = f"{user or credentials}@{host}"
    return urlunsplit(server._replace(netloc=netloc, path=f"/{connection.settings_dict['NAME']}"))


@contextmanager
def console_process(env: dict, *, log) -> Iterator[str]:
    """The console's web server as `manage.py runconsole` starts it (uvicorn in a process of its own,
    with the settings `env` gives), writing its log to the file `log`; yields its URL once it answers."""
    port = free_port()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-m", "uvicorn", *web_server_options(host="127.0.0.1", port=port)]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    try:
        while True:
            assert process.poll() is None, "the console stopped"
            assert time.monotonic() < deadline, "the console did not start"
            try:
                requests.get(f"{url}/login/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
