"""Each project's queue length and GPUs in use, sampled once a minute for the dashboard's charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mlplatform.compute import selectors, services, tasks
from mlplatform.compute.models import UsageSample, Workload
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Role
from mlplatform.quotas.models import Flavor
from tests.factories import ProjectFactory

State = Workload.State
NOON = datetime(2026, 12, 4, 12, 0, 20, tzinfo=UTC)


def workload(project, state: str, *, gpus: int = 0, cpu: str = "1") -> Workload:
    row = Workload.objects.create(project=project, kind="batch", name="w", spec={"groups": []}, state=state)
    flavor, _ = Flavor.objects.get_or_create(name="a100" if gpus else "cpu")
    row.requests.create(flavor=flavor, gpus=gpus, cpu=Decimal(cpu))
    return row


@pytest.fixture
def queue_state(project):
    """team-a: two waiting, one running on 2 GPUs, one starting on 1, one that ended on 4;
    an idle project besides."""
    workload(project, State.QUEUED, gpus=1)
    workload(project, State.QUEUED)
    workload(project, State.RUNNING, gpus=2, cpu="8")
    workload(project, State.STARTING, gpus=1, cpu="4")
    workload(project, State.SUCCEEDED, gpus=4)
    return ProjectFactory(slug="idle")


def samples() -> list[tuple]:
    return list(
        UsageSample.objects.values_list("project__slug", "time", "queued", "gpus_in_use", "cpus_in_use")
    )


def test_a_sample_counts_the_queue_and_what_admitted_workloads_hold_per_project(db, queue_state):
    written = services.usage_sample(now=NOON)

    minute = NOON.replace(second=0)
    assert written == 2
    assert sorted(samples()) == [("idle", minute, 0, 0, Decimal(0)), ("team-a", minute, 2, 3, Decimal(12))]


def test_running_twice_in_a_minute_keeps_one_sample_with_the_latest_counts(db, project, queue_state):
    services.usage_sample(now=NOON)
    workload(project, State.QUEUED)

    services.usage_sample(now=NOON + timedelta(seconds=30))
    services.usage_sample(now=NOON + timedelta(minutes=1))

    team = [(time.minute, queued) for slug, time, queued, *_ in samples() if slug == "team-a"]
    assert sorted(team) == [(0, 3), (1, 3)]


def test_samples_older_than_the_retention_go(db, project):
    services.usage_sample(now=NOON - timedelta(days=15))
    services.usage_sample(now=NOON - timedelta(days=13))

    services.usage_sample(now=NOON, keep_days=14)

    assert sorted(time.date().isoformat() for _, time, *_ in samples()) == ["2026-11-21", "2026-12-04"]


def test_the_beat_task_takes_a_sample_now(db, project):
    assert tasks.sample_usage() == 1
    assert UsageSample.objects.get(project=project).queued == 0


def test_the_history_has_a_point_per_minute_over_24_hours_and_an_hourly_peak_over_7_days(
    db, project, settings
):
    settings.TIME_ZONE = "UTC"
    for minutes, queued, gpus in ((0, 1, 2), (1, 4, 0), (60, 2, 3)):
        UsageSample.objects.create(
            project=project,
            time=NOON.replace(second=0) - timedelta(minutes=minutes),
            queued=queued,
            gpus_in_use=gpus,
        )

    day = selectors.usage_history(project=project, period="24h", now=NOON)
    week = selectors.usage_history(project=project, period="7d", now=NOON)

    assert len(day["labels"]) == 24 * 60
    assert day["labels"][-2:] == ["11:59", "12:00"]
    assert day["queued"][-2:] == [4, 1]
    assert day["gpus_in_use"][-61:] == [3, *[None] * 58, 0, 2]  # no sample: a gap, not 0
    assert len(week["labels"]) == 7 * 24
    assert week["labels"][-3:] == ["Fri 10:00", "Fri 11:00", "Fri 12:00"]
    assert week["queued"][-3:] == [None, 4, 1]  # the peak of 11:00-12:00 is 4
    assert week["gpus_in_use"][-3:] == [None, 3, 2]


def test_another_period_is_refused_at_its_field(db, project):
    with pytest.raises(ApplicationError) as refused:
        selectors.usage_history(project=project, period="1y")
    assert refused.value.field == "period"


def test_the_api_gives_the_history_to_a_viewer_and_refuses_another_period_with_its_field(
    db, project, member, api, outsider
):
    services.usage_sample()
    viewer = api(member(Role.VIEWER))

    history = viewer.get("/api/projects/team-a/usage/?period=7d").json()
    refused = viewer.get("/api/projects/team-a/usage/?period=1y")

    assert (history["period"], history["sampled"]) == ("7d", True)
    assert len(history["labels"]) == len(history["queued"]) == len(history["gpus_in_use"]) == 7 * 24
    assert history["queued"][-1] == 0
    assert refused.status_code == 400
    assert refused.json() == {"period": ["'1y' is not a period: use 24h or 7d."]}
    assert api(outsider).get("/api/projects/team-a/usage/").status_code == 404


def test_the_project_dashboard_charts_the_samples_and_says_so_when_there_are_none(
    db, client, project, member
):
    client.force_login(member(Role.VIEWER))

    before = client.get("/projects/team-a/")
    workload(project, State.QUEUED, gpus=1)
    services.usage_sample()
    after = client.get("/projects/team-a/?period=7d")

    assert "Nothing measured in this period yet" in before.content.decode()
    assert before.context["usage"]["period"] == "24h"
    assert 'id="usage-chart"' in after.content.decode()
    assert after.context["usage"]["period"] == "7d"
    assert after.context["usage"]["queued"][-1] == 1
    assert "Each point is the peak of its hour." in after.content.decode()
