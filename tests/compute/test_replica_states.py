"""Replica states end with their workload: once it is cancelled (or failed, or succeeded) no page
says that one of its replicas still runs, since no status sync reads a finished workload again."""

from __future__ import annotations

import sys
import time

import pytest

from mlplatform.compute import services
from mlplatform.compute.models import Workload
from mlplatform.compute.spec import spec_from_dict
from mlplatform.storage.services import storage_connection_create
from tests.factories import quota
from training_app.services import job_create

State = Workload.State
RUNNING_MASTER = [{"role": "master", "index": 0, "phase": "running", "stage": "ready", "message": ""}]


@pytest.fixture
def team(project, settings, tmp_path, local_compute):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    return project


def replica_states(html: str) -> list[str]:
    """The replica table's State column, as the page shows it."""
    table = html.split("<th>Replica</th>", 1)[1].split("</table>", 1)[0]
    return [cell.split("</span>")[0].rsplit(">", 1)[1] for cell in table.split('class="badge state')[1:]]


def test_a_cancelled_training_job_whose_process_is_gone_no_longer_shows_master_running(client, team, editor):
    # Given a running job whose master the backend last saw running (its process since gone)
    job = job_create(
        project=team,
        body={
            "jobId": "mnist_1",
            "trainingInput": {
                "scaleTier": "BASIC",
                "packageUris": ["gs://demo/packages/trainer-0.1.tar.gz"],
                "pythonModule": "trainer.task",
            },
        },
    )
    Workload.objects.filter(pk=job.workload_id).update(
        state=State.RUNNING, backend="local", replicas=RUNNING_MASTER
    )

    # When an editor cancels it and the stop and the status sync run
    client.post(f"{job.get_absolute_url()}cancel/")
    services.workload_stop(workload_id=job.workload_id)
    services.workloads_sync()
    page = client.get(job.get_absolute_url()).content.decode()

    # Then the page, reloaded, says the job and its master were cancelled
    assert ">CANCELLED<" in page
    assert replica_states(page) == ["cancelled"]
    assert "cancelled with its workload" in page


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
