"""Submitting workloads, the admission pass over the database, and the queue as users see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mlplatform.compute import selectors, services
from mlplatform.compute.models import Workload, WorkloadEvent
from mlplatform.compute.spec import spec_from_dict
from mlplatform.core.models import QueueingStrategy, Role
from tests.factories import ProjectFactory, quota

State = Workload.State
A100 = "nvidia-a100-80gb"


def body(name: str, *, gpus: int = 1, count: int = 1, flavor: str = A100, **group) -> dict:
    return {
        "spec": {
            "name": name,
            "kind": "batch",
            "groups": [
                {
                    "role": "worker",
                    "count": count,
                    "image": "python:3.11",
                    "command": ["python", "-c", "print('hi')"],
                    "resources": {"flavor": flavor, "gpus": gpus, "cpu": "2", "memory_gib": "8"},
                    **group,
                }
            ],
        }
    }


def submit(project, name: str, **kwargs) -> Workload:
    extra = {k: kwargs.pop(k) for k in ("priority", "max_wait_seconds") if k in kwargs}
    return services.workload_submit(
        project=project, spec=spec_from_dict(body(name, **kwargs)["spec"]), **extra
    )


@pytest.fixture
def team_a(project):
    quota(project, A100, nominal_gpus=8, nominal_cpu=96, nominal_memory_gib=1000)
    quota(project, "cpu", nominal_cpu=16, nominal_memory_gib=64)
    return project


def reload(workload: Workload) -> Workload:
    return selectors.workload_get(project=workload.project, workload_id=workload.id)


# --- refusing what must never be queued ------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"flavor": "nvidia-b300"}, "groups[0].resources.flavor", "not a flavor"),
        ({"count": -2}, "count", "greater than or equal to 1"),
        ({"gpus": -1}, "gpus", "greater than or equal to 0"),
        ({"gpus": 9}, "resources", "can never"),
        ({"securityContext": {"privileged": True}}, "securityContext", "not a field"),
        (
            {"volumes": [{"name": "host", "mount_path": "/x", "hostPath": {"path": "/"}}]},
            "hostPath",
            "not a field",
        ),
        ({"flavor": "nvidia-h100-80gb"}, "resources", "no quota"),
    ],
)
def test_bad_specs_are_refused_with_the_field_and_nothing_is_queued(
    api, team_a, member, change, field, words
):
    data = body("train")
    group = data["spec"]["groups"][0]
    for key, value in change.items():
        if key in ("flavor", "gpus"):
            group["resources"][key] = value
        else:
            group[key] = value

    response = api(member(Role.EDITOR)).post("/api/projects/team-a/workloads/", data, format="json")

    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert words in response.content.decode()
    assert not Workload.objects.exists()


def test_a_wait_longer_than_the_database_can_hold_is_refused(api, team_a, member):
    data = {**body("train"), "max_wait_seconds": 2**31}

    response = api(member(Role.EDITOR)).post("/api/projects/team-a/workloads/", data, format="json")

    assert response.status_code == 400, response.content
    assert response.json() == {"max_wait_seconds": ["Ensure this value is less than or equal to 2147483647."]}
    assert not Workload.objects.exists()


def test_a_workload_may_name_only_storage_connections_its_project_has(api, team_a, member):
    data = body("train")
    data["spec"]["storage"] = ["attic"]

    response = api(member(Role.EDITOR)).post("/api/projects/team-a/workloads/", data, format="json")

    assert response.status_code == 400
    assert "no storage connection 'attic'" in str(response.json()["storage"])
    assert not Workload.objects.exists()


def test_names_that_are_not_dns_labels_are_refused(api, team_a, member):
    response = api(member()).post("/api/projects/team-a/workloads/", body("Train_1"), format="json")
    assert response.status_code == 400
    assert "DNS-1123" in response.json()["name"][0]


def test_viewers_cannot_submit_and_outsiders_cannot_see_the_project(api, team_a, member, outsider):
    assert (
        api(member(Role.VIEWER)).post("/api/projects/team-a/workloads/", body("a"), format="json").status_code
        == 403
    )
    assert api(outsider).get("/api/projects/team-a/workloads/").status_code == 404
    assert api(outsider).get("/api/projects/team-a/queue/").status_code == 404


# --- admission ---------------------------------------------------------------------------------


def test_what_fits_is_admitted_and_the_rest_waits_with_a_position_and_a_reason(team_a):
    first, second = submit(team_a, "one", gpus=4), submit(team_a, "two", gpus=4)
    third, fourth = submit(team_a, "three", gpus=2, count=2), submit(team_a, "four", gpus=1)

    result = services.admission_pass()

    assert set(result.admitted) == {first.id, second.id}
    assert reload(first).state == State.ADMITTED
    assert reload(second).state == State.ADMITTED
    third, fourth = reload(third), reload(fourth)
    assert (third.state, third.queue_position) == (State.QUEUED, 1)
    assert (fourth.state, fourth.queue_position) == (State.QUEUED, 2)
    assert "waiting for 4 x nvidia-a100-80gb" in third.reason
    assert "team-a uses 8 of 8" in third.reason
    assert list(first.events.values_list("state", flat=True)) == [State.QUEUED, State.ADMITTED]


def test_a_group_waits_for_nothing_its_members_queue_and_run_as_any_workload(team_a):
    group = services.workload_group_create(project=team_a, name="sweep")
    first = services.workload_submit(
        project=team_a, spec=spec_from_dict(body("sweep-1", gpus=8)["spec"]), member_of=group
    )
    second = services.workload_submit(
        project=team_a, spec=spec_from_dict(body("sweep-2", gpus=8)["spec"]), member_of=group
    )

    result = services.admission_pass()

    assert set(result.admitted) == {first.id}  # the group asks for nothing and is never admitted
    board = selectors.queue(project=team_a)
    assert [w.name for w in board["running"]] == ["sweep-1"]
    assert [(w.name, w.queue_position) for w in board["pending"]] == [("sweep-2", 1)]
    assert reload(group).state == State.QUEUED

    services.workload_cancel(workload=group, reason="enough")

    # Neither member reached a backend: all end at once (one that did stops through CANCELLING, and
    # the group with it: tests/training/test_tuning_jobs.py)
    assert [reload(w).state for w in (first, second, group)] == [State.CANCELLED] * 3


def test_a_gang_is_admitted_whole_or_not_at_all(team_a):
    submit(team_a, "holder", gpus=5)
    gang = submit(team_a, "gang", gpus=1, count=4)  # 4 replicas x 1 GPU, 3 free

    services.admission_pass()

    assert reload(gang).state == State.QUEUED
    assert "waiting for 4 x nvidia-a100-80gb" in reload(gang).reason


def test_finishing_frees_quota_for_the_next_pass(team_a):
    holder, waiting = submit(team_a, "holder", gpus=8), submit(team_a, "waiting", gpus=8)
    services.admission_pass()
    assert reload(waiting).state == State.QUEUED

    services.workload_cancel(workload=holder)
    services.admission_pass()

    assert reload(holder).state == State.CANCELLED
    assert reload(waiting).state == State.ADMITTED


def test_an_admin_quota_change_is_used_by_the_next_pass(team_a):
    submit(team_a, "small", gpus=1)
    waiting = submit(team_a, "big", gpus=8)
    services.admission_pass()
    assert reload(waiting).state == State.QUEUED

    team_a.quotas.filter(flavor__name=A100).update(nominal_gpus=16)
    services.admission_pass()

    assert reload(waiting).state == State.ADMITTED


def test_priority_goes_first_and_strict_fifo_holds_the_queue(team_a):
    submit(team_a, "holder", gpus=6)
    services.admission_pass()
    low = submit(team_a, "low", gpus=1)
    high = submit(team_a, "high", gpus=4, priority=10)  # does not fit (2 free)

    services.admission_pass()
    assert reload(high).queue_position == 1
    assert reload(low).state == State.ADMITTED

    team_a.queueing_strategy = QueueingStrategy.STRICT_FIFO
    team_a.save()
    later = submit(team_a, "later", gpus=1)
    services.admission_pass()
    assert reload(later).state == State.QUEUED
    assert reload(later).queue_position == 2


def test_a_cohort_lends_unused_quota_and_the_borrower_says_so(team_a):
    from mlplatform.quotas.models import Cohort

    lab = Cohort.objects.create(name="lab")
    team_a.quotas.filter(flavor__name=A100).update(cohort=lab)
    team_b = ProjectFactory(slug="team-b")
    quota(team_b, A100, nominal_gpus=4, nominal_cpu=48, nominal_memory_gib=500, cohort=lab)

    borrower = submit(team_b, "borrow", gpus=6)
    services.admission_pass()

    borrower = reload(borrower)
    assert borrower.state == State.ADMITTED
    assert "borrowing 2 GPUs" in borrower.reason
    board = {
        (row.project, row.flavor.name): row for row in selectors.quota_board() if row.flavor.name == A100
    }
    assert board[("team-b", A100)].borrowed.gpus == 2
    assert board[("team-a", A100)].cohort_can_lend.gpus == 0  # team-b uses all of its own


def test_a_workload_that_waited_too_long_fails_with_the_reason(team_a):
    submit(team_a, "holder", gpus=8)
    impatient = submit(team_a, "impatient", gpus=2, max_wait_seconds=60)
    services.admission_pass()
    assert reload(impatient).state == State.QUEUED

    services.admission_pass(now=timezone.now() + timedelta(minutes=2))

    impatient = reload(impatient)
    assert impatient.state == State.FAILED
    assert impatient.reason.startswith(
        "waited longer than 1 minute for quota: waiting for 2 x nvidia-a100-80gb"
    )


def test_cancelling_a_queued_workload_needs_no_backend_and_cannot_repeat(team_a):
    queued = submit(team_a, "q", gpus=1)
    services.workload_cancel(workload=queued)
    assert reload(queued).state == State.CANCELLED
    with pytest.raises(Exception, match="already ended"):
        services.workload_cancel(workload=queued)


def test_the_queue_api_shows_positions_reasons_and_usage(api, team_a, member):
    submit(team_a, "holder", gpus=8)
    submit(team_a, "waiting", gpus=2)
    services.admission_pass()

    board = api(member(Role.VIEWER)).get("/api/projects/team-a/queue/").json()

    assert [w["name"] for w in board["running"]] == ["holder"]
    assert board["pending"][0]["queue_position"] == 1
    assert "team-a uses 8 of 8" in board["pending"][0]["reason"]
    a100 = next(row for row in board["quotas"] if row["flavor"] == A100)
    assert (a100["used"]["gpus"], a100["nominal"]["gpus"], a100["free"]["gpus"]) == (8, 8, 0)


def test_the_api_submits_lists_and_cancels(api, team_a, member):
    client = api(member(Role.EDITOR, "erin"))
    created = client.post("/api/projects/team-a/workloads/", body("train", gpus=2), format="json")
    assert created.status_code == 201, created.content
    workload = created.json()
    assert workload["state"] == "QUEUED"
    assert workload["requests"][0]["gpus"] == 2
    assert client.get("/api/projects/team-a/workloads/?state=QUEUED").json()[0]["id"] == workload["id"]
    assert client.get("/api/projects/team-a/workloads/?state=NOPE").status_code == 400

    cancelled = client.post(f"/api/projects/team-a/workloads/{workload['id']}/cancel/").json()
    assert (cancelled["state"], cancelled["reason"]) == ("CANCELLED", "cancelled by erin")
    assert cancelled["events"][-1] | {"time": None} == {
        "time": None,
        "previous": "QUEUED",
        "state": "CANCELLED",
        "actor": "erin",
        "reason": "",
    }
    assert client.post(f"/api/projects/team-a/workloads/{workload['id']}/cancel/").status_code == 400
    logs = client.get(f"/api/projects/team-a/workloads/{workload['id']}/logs/")
    assert logs.status_code == 400
    assert "not started" in logs.json()["detail"]


def test_a_pass_reads_in_a_fixed_number_of_queries(team_a, django_assert_max_num_queries):
    for i in range(30):
        submit(team_a, f"w{i}", gpus=1)
    with django_assert_max_num_queries(14):
        services.admission_pass()
    assert WorkloadEvent.objects.filter(state=State.ADMITTED).count() == 8


def test_gpu_hours_of_finished_workloads_add_up_for_the_project(api, team_a, member):
    from django.utils import timezone

    done = submit(team_a, "done", gpus=2)
    old = submit(team_a, "old", gpus=2)
    Workload.objects.filter(id=done.id).update(
        state=State.SUCCEEDED, gpu_hours="1.5", finished_at=timezone.now()
    )
    Workload.objects.filter(id=old.id).update(
        state=State.SUCCEEDED, gpu_hours="9", finished_at=timezone.now() - timedelta(days=45)
    )

    board = api(member(Role.VIEWER)).get("/api/projects/team-a/queue/").json()

    assert board["gpu_hours_30_days"] == "1.5000"


def test_a_start_lost_with_its_worker_is_asked_for_again_once_a_grace_period(team_a):
    from django.utils import timezone

    stuck = submit(team_a, "stuck", gpus=1)
    services.admission_pass()  # ADMITTED; its start message is lost (no worker in this test)
    later = timezone.now() + services.START_GRACE * 2

    services.workloads_sync(now=later)
    asked = Workload.objects.get(id=stuck.id).updated_at
    services.workloads_sync(now=later + timedelta(seconds=10))

    assert asked == later
    assert Workload.objects.get(id=stuck.id).updated_at == asked  # not asked again so soon
    services.workloads_sync(now=later + services.START_GRACE * 2)
    assert Workload.objects.get(id=stuck.id).updated_at > asked


def test_pages_and_apis_promise_what_admission_grants_in_a_three_member_cohort(
    api, project, member, client, machine_gpus
):
    # Given a cohort of three where team-c already borrows 2 of team-b's 8 GPUs (on a machine
    # with GPUs enough, so that the page's figures are the quota's alone)
    from mlplatform.quotas.models import Cohort

    machine_gpus(16)
    lab = Cohort.objects.create(name="lab")
    team_b, team_c = ProjectFactory(slug="team-b"), ProjectFactory(slug="team-c")
    for team, gpus in ((project, 2), (team_b, 8), (team_c, 4)):
        quota(team, A100, nominal_gpus=gpus, nominal_cpu=96, nominal_memory_gib=1000, cohort=lab)
    quota(project, "cpu", nominal_cpu=16, nominal_memory_gib=64)
    submit(team_c, "borrower", gpus=6)
    services.admission_pass()
    editor = member(Role.EDITOR)

    # When team-a's editor reads the quota API, the queue API and the notebook form
    quotas = api(editor).get("/api/projects/team-a/quotas/").json()
    queue = api(editor).get("/api/projects/team-a/queue/").json()
    client.force_login(editor)
    form = client.get("/projects/team-a/notebooks/new/").content.decode()

    # Then all say 8 free, 6 of them borrowed (team-b's 8 less what team-c holds), in one shape
    a100 = next(row for row in quotas if row["flavor"] == A100)
    assert (a100["free"]["gpus"], a100["borrowable"]["gpus"], a100["cohort_can_lend"]["gpus"]) == (8, 6, 6)
    assert next(row for row in queue["quotas"] if row["flavor"] == A100) == a100
    assert "8 of 2 GPUs free now, 6 borrowable" in form
    # And admission grants exactly that
    nine, eight = submit(project, "nine", gpus=9), submit(project, "eight", gpus=8)
    services.admission_pass()
    assert (reload(eight).state, reload(nine).state) == (State.ADMITTED, State.QUEUED)


def test_an_autoscaled_service_is_admitted_for_the_most_replicas_it_may_grow_to(team_a):
    # Given a service of 1 replica that may autoscale to 3, one A100 each
    service = services.workload_submit(
        project=team_a,
        spec=spec_from_dict(
            {
                "name": "serve",
                "kind": "service",
                "groups": [
                    {
                        "role": "server",
                        "count": 1,
                        "max_count": 3,
                        "image": "python:3.11",
                        "command": ["python", "-m", "http.server"],
                        "resources": {"flavor": A100, "gpus": 1, "cpu": "2", "memory_gib": "8"},
                    }
                ],
            }
        ),
    )
    # Then it holds quota for 3 (what its autoscaler may scale it to), not 1
    assert service.requests.get().amounts.gpus == 3
    blocker = submit(team_a, "six", gpus=6)
    services.admission_pass()
    assert reload(service).state == State.ADMITTED
    assert reload(blocker).state == State.QUEUED
    assert "team-a uses 3 of 8" in reload(blocker).reason


def test_a_service_that_could_grow_past_the_quota_is_refused(team_a):
    spec = body("greedy", gpus=4, count=1, max_count=3)["spec"] | {"kind": "service"}
    with pytest.raises(Exception, match="needs 12 x nvidia-a100-80gb but team-a's quota is 8"):
        services.workload_submit(project=team_a, spec=spec_from_dict(spec))
    assert not Workload.objects.filter(name="greedy").exists()


def test_max_count_below_count_is_refused(team_a):
    spec = body("odd", gpus=1, count=2, max_count=1)["spec"] | {"kind": "service"}
    with pytest.raises(Exception, match="must be at least count"):
        services.workload_submit(project=team_a, spec=spec_from_dict(spec))


def test_a_cancel_recorded_before_events_had_an_actor_reads_as_it_was_written(team_a):
    workload = submit(team_a, "old")
    event = WorkloadEvent.objects.create(
        workload=workload, state=State.CANCELLED, previous=State.QUEUED, reason="cancelled by alice"
    )
    assert event.summary() == "cancelled by alice"  # not "cancelled by the platform: cancelled by alice"
