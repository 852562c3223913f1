"""The console under a burst of concurrent requests holds a bounded number of PostgreSQL connections.

The web server runs as `make run` runs it (uvicorn in its own process, the settings' defaults), as a
database role limited to a few connections: the low max_connections of a small PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest
from django.db import connection

from tests.background import console_database_url, console_process
from tests.factories import MembershipFactory, UserFactory

CONNECTION_LIMIT = 24
BURST = 200
PASSWORD = "burst-only"  # CI's PostgreSQL asks for one on TCP (scram-sha-256); the embedded one trusts


@pytest.fixture
def limited_role(transactional_db):
    """A role that may hold at most CONNECTION_LIMIT connections, with the test database's tables."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE burst LOGIN PASSWORD '{PASSWORD}' CONNECTION LIMIT {CONNECTION_LIMIT}")
        cursor.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO burst")
        cursor.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO burst")
    yield "burst"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'burst'")
        cursor.execute("DROP OWNED BY burst")
        cursor.execute("DROP ROLE burst")


async def _burst(url: str, token: str) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> int:
            async with session.get(f"{url}/api/projects/", headers=headers) as response:
                await response.read()
                return response.status

        return await asyncio.gather(*(one() for _ in range(BURST)))


def test_a_burst_of_concurrent_requests_does_not_exhaust_postgresql(limited_role, token_for, tmp_path):
    # given a member's token and the console connecting as the limited role, with its default settings
    user = UserFactory()
    MembershipFactory(user=user)
    token = token_for(user)
    env = {**os.environ, "DATABASE_URL": console_database_url(user=f"{limited_role}:{PASSWORD}")}
    log_path = tmp_path / "console.log"

    # when 200 requests arrive at once
    with open(log_path, "w") as log, console_process(env, log=log) as url:
        statuses = asyncio.run(_burst(url, token))

    # then each is answered, and PostgreSQL refused the console no connection
    log_text = log_path.read_text()
    assert statuses == [200] * BURST, log_text[-3000:]
    assert "too many connections" not in log_text
