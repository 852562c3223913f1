"""The project dashboard's chart of queue length and GPUs in use over time, in headless Chromium:
a day of minute samples with a gap, and a week of hourly peaks. Screenshots land in test-artifacts/
(see test_browser.py)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from mlplatform.compute.models import UsageSample
from tests.e2e import test_browser
from tests.e2e.test_browser import CHROMIUM, _login, _shot

browser, page = test_browser.browser, test_browser.page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]

CHART = "Chart.getChart(document.getElementById('usage-chart'))"


def drawn(page) -> dict:
    """What the chart draws: its labels and each dataset's values (None where it leaves a gap)."""
    return page.evaluate(
        f"() => ({{ labels: {CHART}.data.labels,"
        f" sets: Object.fromEntries({CHART}.data.datasets.map(d => [d.label, d.data])),"
        f" hidden: {CHART}.data.datasets.filter((d, i) => !{CHART}.isDatasetVisible(i)).map(d => d.label) }})"
    )


def test_the_dashboard_charts_the_queue_and_gpus_over_a_day_and_a_week(
    page, live_server, project, admin_user
):
    now = timezone.now().replace(second=0, microsecond=0)
    # the last two hours: 3 queued and 2 GPUs busy, then the queue drains onto 6 GPUs; 10 minutes
    # ago the sampler did not run
    for minutes in range(120):
        if minutes == 10:
            continue
        queued, gpus = (0, 6) if minutes < 60 else (3, 2)
        UsageSample.objects.create(
            project=project, time=now - timedelta(minutes=minutes), queued=queued, gpus_in_use=gpus
        )
    _login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/team-a/")

    page.get_by_test_id("usage-chart").wait_for()
    day = drawn(page)
    assert len(day["labels"]) == 24 * 60
    queued, gpus = day["sets"]["Workloads queued"], day["sets"]["GPUs in use"]
    assert (queued[-1], gpus[-1], queued[-100], gpus[-100]) == (0, 6, 3, 2)
    assert (queued[-11], gpus[-11]) == (None, None)  # the minute not sampled is a gap
    assert queued[0] is None  # nothing measured a day ago
    assert day["hidden"] == ["vCPUs in use"]  # in the legend, off until asked for
    _shot(page, "usage-day")

    page.get_by_role("navigation", name="Period").get_by_role("link", name="7 days").click()
    page.get_by_test_id("usage-chart").wait_for()
    week = drawn(page)
    assert len(week["labels"]) == 7 * 24
    assert max(v or 0 for v in week["sets"]["Workloads queued"]) == 3  # an hour's peak
    assert week["sets"]["GPUs in use"][-1] == 6
    assert page.get_by_text("Each point is the peak of its hour.").is_visible()
    _shot(page, "usage-week")
