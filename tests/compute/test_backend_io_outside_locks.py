"""Backend I/O (starting processes, stopping them) never runs while the workload's row is locked,
and a cancel that arrives while a start is talking to the backend still wins.

The backend is the real local backend, wrapped by a spy that, from inside `submit` and `cancel`,
asks PostgreSQL from a second connection whether the row is locked (`FOR UPDATE NOWAIT`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.urls import reverse

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
        hook, self.on_submit = self.on_submit, None  # once: the hook may start it again
        if hook:
            hook()
        self.backend.submit(ref, spec, flavors, wiring)

    def cancel(self, ref):
        self.locked["cancel"] = row_is_locked(ref.id)
        self.backend.cancel(ref)

    def utilisation(self, ref):
        self.locked["utilisation"] = row_is_locked(ref.id)
        return self.backend.utilisation(ref)

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
def test_the_utilisation_panel_measures_with_the_row_unlocked(
    sleeper, local_compute, monkeypatch, client, member
):
    started = services.workload_start(workload_id=sleeper.id)
    spy = Spy(local_compute)
    monkeypatch.setattr(selectors, "get_backend", lambda name=None: spy)
    client.force_login(member())

    page = client.get(reverse("workload-utilisation", args=[started.project.slug, started.id]))

    assert page.status_code == 200
    assert spy.locked == {"utilisation": False}


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


def in_another_connection(work):
    """Run `work` in its own thread and database connection (as another worker would), waiting
    for it; a row lock held here fails it after 5 s instead of hanging the test."""

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(timeout=60)


def running(backend, ref) -> bool:
    return backend.statuses([ref])[ref.id].phase in (Phase.PENDING, Phase.RUNNING)


@pytest.mark.django_db(transaction=True)
def test_a_second_start_during_the_first_is_not_undone_by_it(sleeper, local_compute, monkeypatch):
    # Given a second start (a retry, the sync asking again) while the first is submitting
    def start_again():
        assert in_another_connection(lambda: services.workload_start(workload_id=sleeper.id).state) == (
            State.STARTING
        )

    use(monkeypatch, Spy(local_compute, on_submit=start_again))

    # When the first start finishes
    workload = services.workload_start(workload_id=sleeper.id)

    # Then the workload is starting and its process runs: the first start did not take it back
    assert workload.state == State.STARTING
    assert running(local_compute, workload.ref)


@pytest.mark.django_db(transaction=True)
def test_an_eviction_during_the_start_queues_a_new_run_that_starts_clean(sleeper, local_compute, monkeypatch):
    from mlplatform.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the follow-up tasks run at once, here
    first_run = sleeper.ref

    # Given an eviction while the start is submitting (its next start runs at once: eager tasks)
    def evict():
        in_another_connection(lambda: services.workload_evict(workload_id=sleeper.id, reason="test"))

    spy = use(monkeypatch, Spy(local_compute, on_submit=evict))

    # When the first start finishes
    services.workload_start(workload_id=sleeper.id)

    # Then the workload runs again as its second run, and the first run's process is gone
    workload = selectors.workload_get(project=sleeper.project, workload_id=sleeper.id)
    assert (workload.state, workload.evictions) == (State.STARTING, 1)
    assert workload.ref.key != first_run.key
    assert running(local_compute, workload.ref)
    assert not running(spy.backend, first_run)


@pytest.mark.django_db(transaction=True)
def test_an_evicted_local_workload_runs_again(sleeper, local_compute, monkeypatch):
    use(monkeypatch, Spy(local_compute))
    services.workload_start(workload_id=sleeper.id)
    first_run = Workload.objects.get(id=sleeper.id).ref

    # When it is evicted, its old run taken back, and it is admitted and started again
    services.workload_evict(workload_id=sleeper.id, reason="the backend lost track of it")
    local_compute.cancel(first_run)  # what the remove_run task does
    services.admission_pass()
    workload = services.workload_start(workload_id=sleeper.id)

    # Then it runs (an evicted run's cancel mark does not stop the next run)
    assert workload.state == State.STARTING
    assert running(local_compute, workload.ref)
    assert not running(local_compute, first_run)
