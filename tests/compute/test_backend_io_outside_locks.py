"""Backend I/O (starting processes, stopping them) never runs while the workload's row is locked,
and a cancel that arrives while a start is talking to the backend still wins.

The backend is the real local backend, wrapped by a spy that, from inside `submit` and `cancel`,
asks PostgreSQL from a second connection whether the row is locked (`FOR UPDATE NOWAIT`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, connections, transaction

from mlplatform.compute import selectors, services
from mlplatform.compute.backends.base import Phase
from mlplatform.compute.models import Workload
from mlplatform.compute.spec import spec_from_dict
from tests.factories import quota

State = Workload.State
SLEEP = ["python", "-c", "import time; time.sleep(60)"]


def row_is_locked(workload_id) -> bool:
    def probe() -> bool:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM compute_workload WHERE id = %s FOR UPDATE NOWAIT", [workload_id]
                )
            return False
        except OperationalError:
            return True
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:  # its own thread: its own database connection
        return pool.submit(probe).result()


class Spy:
    """The real backend, noting whether the row was locked during each call that does I/O."""

    def __init__(self, backend, on_submit=None):
        self.backend, self.on_submit, self.locked = backend, on_submit, {}
        self.name = backend.name

    def submit(self, ref, spec, flavors, wiring):
        self.locked["submit"] = row_is_locked(ref.id)
        if self.on_submit:
            self.on_submit()
        self.backend.submit(ref, spec, flavors, wiring)

    def cancel(self, ref):
        self.locked["cancel"] = row_is_locked(ref.id)
        self.backend.cancel(ref)

    def __getattr__(self, name):
        return getattr(self.backend, name)


@pytest.fixture
def sleeper(seeded_catalog, project, local_compute):
    assert connection.vendor == "postgresql"
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=16)
    spec = {
        "name": "sleeper",
        "kind": "batch",
        "groups": [{"role": "worker", "count": 1, "image": "python:3.11", "command": SLEEP}],
    }
    workload = services.workload_submit(project=project, spec=spec_from_dict(spec))
    services.admission_pass()
    return workload


def use(monkeypatch, spy: Spy) -> Spy:
    monkeypatch.setattr(services, "get_backend", lambda name=None: spy)
    return spy


@pytest.mark.django_db(transaction=True)
def test_start_and_stop_talk_to_the_backend_with_the_row_unlocked(sleeper, local_compute, monkeypatch):
    spy = use(monkeypatch, Spy(local_compute))

    # When the admitted workload is started, then cancelled and stopped
    started = services.workload_start(workload_id=sleeper.id)
    services.workload_cancel(workload=started)
    stopped = services.workload_stop(workload_id=sleeper.id)

    # Then neither the submit nor the cancel ran under the row's lock, and both took effect
    assert spy.locked == {"submit": False, "cancel": False}
    assert started.state == State.STARTING
    assert stopped.state == State.CANCELLED
    assert local_compute.statuses([sleeper.ref])[sleeper.id.hex].phase != Phase.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_cancel_during_the_start_wins_and_leaves_nothing_running(sleeper, local_compute, monkeypatch):
    # Given a user who cancels while the start is submitting to the backend (from another connection)
    def cancel_meanwhile():
        with ThreadPoolExecutor(1) as pool:

            def cancel():
                try:
                    with connection.cursor() as cursor:  # a held lock fails the test, not hangs it
                        cursor.execute("SET lock_timeout = '5s'")
                    workload = Workload.objects.get(id=sleeper.id)
                    return services.workload_cancel(workload=workload).state
                finally:
                    connections.close_all()

            assert pool.submit(cancel).result(timeout=30) == State.CANCELLING  # not blocked by a lock

    use(monkeypatch, Spy(local_compute, on_submit=cancel_meanwhile))

    # When the start finishes and the stop task runs
    services.workload_start(workload_id=sleeper.id)
    services.workload_stop(workload_id=sleeper.id)

    # Then the workload is cancelled and its process is gone, not left running
    workload = selectors.workload_get(project=sleeper.project, workload_id=sleeper.id)
    assert workload.state == State.CANCELLED
    status = local_compute.statuses([sleeper.ref])[sleeper.id.hex]
    assert status.phase != Phase.RUNNING
    assert not any(replica.phase == Phase.RUNNING for replica in status.replicas)
    # And running the start again does nothing
    assert services.workload_start(workload_id=sleeper.id).state == State.CANCELLED
