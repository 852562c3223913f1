"""The web server's access log, as `make run` writes it, never holds a token sent in a query string."""

from __future__ import annotations

import os

import requests

from tests.background import console_database_url, console_process


def test_a_token_in_a_query_string_is_refused_and_redacted_from_the_access_log(db, tmp_path):
    token = "mlp_s3cr3tTOKENvalue_abc123"
    env = {**os.environ, "DATABASE_URL": console_database_url(), "LOG_FORMAT": "text"}
    log_path = tmp_path / "console.log"

    with open(log_path, "w") as log, console_process(env, log=log) as url:
        as_param = requests.get(f"{url}/v1/projects/team-a/jobs?access_token={token}&alt=json", timeout=10)
        as_key = requests.get(f"{url}/api/projects/?key=AIzaSyEXAMPLE&limit=5", timeout=10)
        bare = requests.get(f"{url}/api/projects/?x={token}", timeout=10)

    log_text = log_path.read_text()
    assert (as_param.status_code, as_key.status_code, bare.status_code) == (401, 401, 401)
    assert token not in log_text
    assert "AIzaSyEXAMPLE" not in log_text
    assert "/v1/projects/team-a/jobs?access_token=[REDACTED]&alt=json" in log_text
    assert "/api/projects/?key=[REDACTED]&limit=5" in log_text
