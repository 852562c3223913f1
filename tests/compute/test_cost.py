"""What workloads and projects cost at their flavors' hourly prices, as selectors read it and as the
pages and APIs show it. `now` is frozen through the selectors' argument; nothing here waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mlplatform.compute import selectors
from mlplatform.compute.models import Workload, WorkloadRequest
from mlplatform.core.models import Role
from mlplatform.quotas.models import Flavor

State = Workload.State
A100 = "nvidia-a100-80gb"  # 3.93 per GPU-hour in the seeded catalog
CPU = "cpu"  # 0.04 per vCPU-hour
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def workload(
    project,
    name: str,
    *requests: tuple[str, int, str],
    started: datetime | None = None,
    finished: datetime | None = None,
    group: Workload | None = None,
) -> Workload:
    """A workload with `requests` of (flavor, GPUs, vCPUs), run from `started` to `finished`."""
    state = State.SUCCEEDED if finished else State.RUNNING if started else State.QUEUED
    row = Workload.objects.create(
        project=project, kind="batch", name=name, spec={"name": name, "groups": []}, state=state,
        started_at=started, finished_at=finished, group=group,
    )  # fmt: skip
    for flavor, gpus, cpu in requests:
        WorkloadRequest.objects.create(
            workload=row, flavor=Flavor.objects.get(name=flavor), gpus=gpus, cpu=Decimal(cpu), memory_gib=8
        )
    return row


def group(project, name: str = "sweep") -> Workload:
    return Workload.objects.create(project=project, kind=Workload.Kind.GROUP, name=name, spec={"groups": []})


@pytest.fixture
def unpriced(db) -> Flavor:
    return Flavor.objects.create(name="lab-gpu", resource_name="nvidia.com/gpu", hourly_price=0)


# --- one workload --------------------------------------------------------------------------------


def test_a_finished_gpu_workload_costs_its_gpus_times_the_price_times_the_hours_it_ran(project):
    done = workload(project, "train", (A100, 2, "24"), started=NOW - 3 * HOUR, finished=NOW - HOUR / 2)

    cost = selectors.workload_cost(workload=done, now=NOW)

    assert cost.amount == Decimal("19.65")  # 2 GPUs x 3.93 x 2.5 h; its vCPUs come with the GPUs
    assert (cost.cents, str(cost)) == (Decimal("19.65"), "$19.65")


def test_a_cpu_only_workload_costs_its_vcpus_times_the_price(project):
    done = workload(project, "etl", (CPU, 0, "6"), started=NOW - 2 * HOUR, finished=NOW - HOUR / 4)

    cost = selectors.workload_cost(workload=done, now=NOW)

    assert cost.amount == Decimal("0.42")  # 6 vCPUs x 0.04 x 1.75 h


def test_a_running_workload_costs_what_it_ran_until_now_and_nothing_before_it_starts(project):
    running = workload(project, "serve", (A100, 1, "12"), started=NOW - 90 * timedelta(minutes=1))
    queued = workload(project, "waiting", (A100, 4, "48"))

    assert selectors.workload_cost(workload=running, now=NOW).amount == Decimal("5.895")
    assert str(selectors.workload_cost(workload=running, now=NOW)) == "$5.90"  # cents, half up
    assert selectors.workload_cost(workload=running, now=NOW + HOUR).amount == Decimal("9.825")
    assert str(selectors.workload_cost(workload=queued, now=NOW)) == "$0.00"


def test_a_group_costs_what_its_members_cost(project):
    sweep = group(project)
    workload(project, "t1", (A100, 1, "12"), started=NOW - 2 * HOUR, finished=NOW - HOUR, group=sweep)
    workload(project, "t2", (A100, 2, "24"), started=NOW - HOUR, group=sweep)
    workload(project, "other", (A100, 8, "96"), started=NOW - HOUR)

    costs = selectors.workload_costs([sweep], now=NOW)

    assert costs[sweep.id].amount == Decimal("11.79")  # 1 x 3.93 x 1 h + 2 x 3.93 x 1 h so far


def test_flavors_without_a_price_say_so_instead_of_costing_nothing(project, unpriced, settings):
    free = workload(project, "free", ("lab-gpu", 1, "4"), started=NOW - HOUR, finished=NOW)
    mixed = workload(project, "mixed", ("lab-gpu", 1, "4"), (CPU, 0, "10"), started=NOW - HOUR, finished=NOW)

    assert (str(selectors.workload_cost(workload=free)), selectors.workload_cost(workload=free).cents) == (
        "no price set",
        None,
    )
    assert str(selectors.workload_cost(workload=mixed)) == "$0.40 (no price set for lab-gpu)"
    settings.PRICE_CURRENCY = "EUR"
    assert str(selectors.workload_cost(workload=mixed)) == "0.40 EUR (no price set for lab-gpu)"


def test_workload_costs_read_in_one_query_whatever_their_number(project, django_assert_max_num_queries):
    sweeps = [group(project, f"sweep-{i}") for i in range(5)]
    rows = [
        workload(project, f"w{i}", (A100, 1, "12"), (CPU, 0, "2"), started=NOW - HOUR, group=sweeps[i % 5])
        for i in range(20)
    ]

    with django_assert_max_num_queries(1):
        costs = selectors.workload_costs([*sweeps, *rows], now=NOW)

    assert costs[sweeps[0].id].amount == 4 * (Decimal("3.93") + Decimal("0.08"))
    assert costs[rows[0].id].amount == Decimal("4.01")


# --- a project's last 30 days --------------------------------------------------------------------


def test_a_project_costs_what_ran_within_the_last_30_days_per_flavor(project, unpriced):
    edge = NOW - timedelta(days=30)
    workload(project, "long-ago", (A100, 8, "96"), started=edge - 2 * HOUR, finished=edge)  # just outside
    workload(project, "straddles", (A100, 1, "12"), started=edge - 5 * HOUR, finished=edge + 2 * HOUR)
    workload(project, "recent", (A100, 2, "24"), (CPU, 0, "4"), started=NOW - 4 * HOUR, finished=NOW - HOUR)
    workload(project, "running", (CPU, 0, "8"), started=edge - timedelta(days=10))  # since 40 days
    workload(project, "free", ("lab-gpu", 1, "4"), started=NOW - HOUR, finished=NOW)
    workload(project, "queued", (A100, 8, "96"))
    sweep = group(project)  # its member counts once, as itself
    workload(project, "trial", (A100, 1, "12"), started=NOW - HOUR, finished=NOW, group=sweep)

    cost = selectors.project_cost(project=project, now=NOW)

    assert cost.since == edge
    rows = {row.flavor.name: (row.hours, row.cost.cents) for row in cost.flavors}
    assert rows == {
        # 2 h of "straddles" within the window, 2 x 3 h of "recent", 1 h of "trial"
        A100: (Decimal(9), Decimal("35.37")),
        # 4 vCPUs x 3 h of "recent", and 8 vCPUs x 30 days of "running" (its part in the window)
        CPU: (Decimal(12 + 8 * 720), Decimal("230.88")),
        "lab-gpu": (Decimal(1), None),
    }
    assert [row.flavor.name for row in cost.flavors] == ["lab-gpu", A100, CPU]  # GPU flavors first
    assert str(cost.total) == "$266.25 (no price set for lab-gpu)"


def test_a_project_that_ran_only_unpriced_flavors_says_so_and_one_that_ran_nothing_costs_nothing(
    project, unpriced
):
    assert str(selectors.project_cost(project=project, now=NOW).total) == "$0.00"

    workload(project, "free", ("lab-gpu", 2, "4"), started=NOW - HOUR, finished=NOW)

    assert str(selectors.project_cost(project=project, now=NOW).total) == "no price set"


def test_a_project_cost_reads_in_one_query_whatever_the_number_of_workloads(
    project, django_assert_max_num_queries
):
    for i in range(30):
        workload(project, f"w{i}", (A100, 1, "12"), (CPU, 0, "2"), started=NOW - HOUR, finished=NOW)

    with django_assert_max_num_queries(1):
        cost = selectors.project_cost(project=project, now=NOW)

    assert cost.total.amount == 30 * (Decimal("3.93") + Decimal("0.08"))


# --- pages and APIs ------------------------------------------------------------------------------


@pytest.fixture
def finished(project) -> Workload:
    """A workload that ran 2 GPUs for 1.5 h an hour ago: $11.79, whenever the test runs."""
    now = timezone.now()
    return workload(
        project, "train", (A100, 2, "24"), started=now - 150 * timedelta(minutes=1), finished=now - HOUR
    )


def test_the_workload_page_and_its_status_fragment_show_its_cost(client, finished, member):
    client.force_login(member(Role.VIEWER))

    page = client.get(finished.get_absolute_url()).content.decode()
    status = client.get(f"{finished.get_absolute_url()}?fragment=status").content.decode()

    assert '<span data-testid="cost">$11.79</span>' in page
    assert '<span data-testid="cost">$11.79</span>' in status


def test_a_group_page_shows_its_members_cost(client, project, member):
    client.force_login(member(Role.VIEWER))
    sweep = group(project)
    now = timezone.now()
    workload(project, "t1", (CPU, 0, "5"), started=now - 3 * HOUR, finished=now - HOUR, group=sweep)

    page = client.get(sweep.get_absolute_url()).content.decode()

    assert '<span data-testid="cost">$0.40</span> <span class="text-secondary">(its members\')</span>' in page


def test_the_queue_page_and_the_dashboard_show_the_projects_cost_per_flavor(client, finished, member):
    client.force_login(member(Role.VIEWER))

    for url in ("/projects/team-a/queue/", "/projects/team-a/"):
        page = client.get(url).content.decode()
        assert "Cost, last 30 days" in page, url
        assert '<span class="fw-semibold" data-testid="cost-total">$11.79</span>' in page, url
        assert '<tr data-flavor="nvidia-a100-80gb">' in page, url
        assert "3 GPU-hours" in page, url
        assert "$3.93 per GPU-hour" in page, url


def test_a_project_that_ran_nothing_says_so(client, project, member):
    client.force_login(member(Role.VIEWER))

    page = client.get("/projects/team-a/").content.decode()

    assert "Nothing ran in the last 30 days." in page
    assert '<span class="fw-semibold" data-testid="cost-total">$0.00</span>' in page


def test_the_apis_report_a_workloads_cost_and_the_projects_last_30_days(api, finished, member, unpriced):
    client = api(member(Role.VIEWER))
    workload(
        finished.project,
        "free",
        ("lab-gpu", 1, "4"),
        started=finished.started_at,
        finished=finished.finished_at,
    )

    listed = client.get("/api/projects/team-a/workloads/").json()
    detail = client.get(f"/api/projects/team-a/workloads/{finished.id}/").json()
    queue = client.get("/api/projects/team-a/queue/").json()

    costs = {row["name"]: row["cost"] for row in listed}
    assert costs["train"] == detail["cost"] == {"amount": "11.79", "currency": "USD", "unpriced_flavors": []}
    assert costs["free"] == {"amount": None, "currency": "USD", "unpriced_flavors": ["lab-gpu"]}
    month = queue["cost_30_days"]
    assert month["total"] == {"amount": "11.79", "currency": "USD", "unpriced_flavors": ["lab-gpu"]}
    assert month["flavors"] == [
        {
            "flavor": "lab-gpu",
            "unit": "GPU",
            "hours": "1.5000",
            "hourly_price": "0.00",
            "cost": {"amount": None, "currency": "USD", "unpriced_flavors": ["lab-gpu"]},
        },
        {
            "flavor": A100,
            "unit": "GPU",
            "hours": "3.0000",
            "hourly_price": "3.93",
            "cost": {"amount": "11.79", "currency": "USD", "unpriced_flavors": []},
        },
    ]


def test_the_workload_list_and_queue_apis_read_costs_in_as_many_queries_for_many_as_for_one(
    api, project, member
):
    client = api(member(Role.VIEWER))
    client.get("/api/projects/team-a/queue/")  # (a token's first use writes when it was used)
    workload(project, "first", (A100, 1, "12"), started=NOW - HOUR, group=group(project, "sweep-0"))
    counts = []
    for more in (0, 12):
        for i in range(more):
            workload(
                project, f"w{i}", (A100, 1, "12"), started=NOW - HOUR, group=group(project, f"sweep-{i + 1}")
            )
        with CaptureQueriesContext(connection) as listing:
            listed = client.get("/api/projects/team-a/workloads/").json()
        with CaptureQueriesContext(connection) as queue:
            running = client.get("/api/projects/team-a/queue/").json()["running"]
        assert (len(listed), len(running)) == (2 + 2 * more, 1 + more)
        counts.append((len(listing), len(queue)))

    assert counts[0] == counts[1]
