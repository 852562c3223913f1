"""Replica states end with their workload: once it is cancelled (or failed, or succeeded) no page
says that one of its replicas still runs, since no status sync reads a finished workload again."""

from __future__ import annotations

import sys
import time

import pytest

from mlplatform.compute import services
from mlplatform.compute.models import Workload
from mlplatform.compute.spec import spec_from_dict
from tests.factories import quota

State = Workload.State


@pytest.fixture
def team(project, local_compute, seeded_catalog):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    return project


def replica_states(html: str) -> list[str]:
    """The replica table's State column, as the page shows it."""
    table = html.split("<th>Replica</th>", 1)[1].split("</table>", 1)[0]
    return [cell.split("</span>")[0].rsplit(">", 1)[1] for cell in table.split('class="badge state')[1:]]


@pytest.mark.django_db(transaction=True)
def test_a_workload_cancelled_while_its_process_runs_ends_its_replicas_too(team, editor, client):
    spec = {
        "name": "sleeper",
        "kind": "batch",
        "groups": [
            {
                "role": "worker",
                "count": 2,
                "image": "python:3.11",
                "command": [sys.executable, "-c", "import time; time.sleep(60)"],
            }
        ],
    }
    workload = services.workload_submit(project=team, spec=spec_from_dict(spec))
    services.admission_pass()
    services.workload_start(workload_id=workload.id)
    for _ in range(100):  # the launchers start the processes; a sync reads them running
        services.workloads_sync()
        workload.refresh_from_db()
        if [r["phase"] for r in workload.replicas] == ["running", "running"]:
            break
        time.sleep(0.1)
    assert workload.state == State.RUNNING, workload.reason

    services.workload_cancel(workload=workload)
    services.workload_stop(workload_id=workload.id)
    page = client.get(workload.get_absolute_url()).content.decode()

    assert replica_states(page) == ["cancelled", "cancelled"]
