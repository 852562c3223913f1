"""A tuning job's page in headless Chromium while its study runs on the local backend: the trials
table fills in and the charts (the objective per trial, each parameter against it) gain a point per
trial as the page polls, the best trial leads once the job ends, and a trial's number opens its
workload with its log. Screenshots land in test-artifacts/ (see test_browser.py)."""

from __future__ import annotations

import os
import threading

import pytest

from mlplatform.core.models import Role
from tests.e2e import test_browser
from tests.e2e.test_browser import CHROMIUM, _login, _shot
from tests.training import test_tuning_jobs as tuning

# the fixtures of the other browser tests and of the tuning tests, shared here
browser, page = test_browser.browser, test_browser.page
team, jobs, trainer_wheel, venv_cache = tuning.team, tuning.jobs, tuning.trainer_wheel, tuning.venv_cache

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("real-worker"),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]
ENDS_MS = 120_000  # six trials of a second and a half each, two at a time, on a loaded machine


@pytest.fixture
def beat(celery_worker):
    """What beat sends in production, every half second: compute's sync and the studies'."""
    from mlplatform.compute.tasks import sync_workloads
    from training_app.tasks import advance_studies

    stop = threading.Event()

    def tick():
        while not stop.wait(0.5):
            sync_workloads.delay()
            advance_studies.delay()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)


def points(page, chart: str) -> int:
    """How many points the chart draws (its first dataset's)."""
    canvas = "document.querySelector(`canvas[data-trial-chart='${name}']`)"
    return page.evaluate(f"name => Chart.getChart({canvas}).data.datasets[0].data.length", chart)


def test_the_page_of_a_running_study_charts_each_trial_and_leads_with_the_best(
    page, live_server, team, jobs, member, beat
):
    from playwright.sync_api import expect

    member(Role.VIEWER, "vera")
    body = tuning.tuning_body("sweep", "--steps=3", "--step-seconds=0.5", maxTrials=6, maxParallelTrials=2)
    jobs.create(parent="projects/team-a", body=body).execute()
    _login(page, live_server, "vera")
    page.goto(f"{live_server.url}/projects/team-a/training/sweep/")

    trials = page.get_by_test_id("trials")
    expect(trials.locator("tbody tr").first).to_be_visible(timeout=ENDS_MS)
    expect(trials.get_by_role("columnheader", name="optimizer")).to_be_visible()
    # While it runs: some trials scored, not all of them, and the chart already shows those. The
    # chart redraws when htmx settles the swapped status, a moment after the data lands, so the
    # wait is on what the chart draws, checked against the data it was drawn from.
    page.wait_for_function(
        "() => { const d = JSON.parse(document.getElementById('trials-data').textContent);"
        " const n = d.trials.filter(t => t.objective !== null).length;"
        " const c = Chart.getChart(document.querySelector(\"canvas[data-trial-chart='objective']\"));"
        " return c && n >= 1 && n < 6 && c.data.datasets[0].data.length === n }",
        timeout=ENDS_MS,
    )
    assert 1 <= points(page, "objective") < 6
    _shot(page, "tuning-running")

    summary = page.get_by_test_id("trials-summary")
    expect(summary).to_contain_text("6 of 6 trials completed", timeout=ENDS_MS)
    expect(page.locator(".badge.state").first).to_have_text("SUCCEEDED", timeout=ENDS_MS)
    page.wait_for_function(  # the last swap's redraw, as above
        "() => ['objective', 'x', 'optimizer'].every(name => Chart.getChart("
        "document.querySelector(`canvas[data-trial-chart='${name}']`)).data.datasets[0].data.length === 6)",
        timeout=10_000,
    )
    assert points(page, "objective") == points(page, "x") == points(page, "optimizer") == 6
    rows = trials.locator("tbody tr")
    expect(rows).to_have_count(6)
    scores = [float(rows.nth(i).locator("td").nth(4).inner_text()) for i in range(6)]
    assert scores == sorted(scores, reverse=True), "the best trial leads once the job ended"
    expect(rows.first.get_by_label("best")).to_be_visible()
    _shot(page, "tuning-done")

    trial = rows.first.locator("td").first.inner_text().strip()
    rows.first.get_by_role("link").first.click()
    expect(page.get_by_role("link", name="sweep")).to_be_visible()  # one of the job's group
    expect(page.locator("pre").first).to_contain_text(f"trial {trial} step 3")
