"""Views a newcomer expects, in headless Chromium: lists that page and search by name, a form that
marks every bad field at once and keeps what was typed (the S3 secret too), and the live
utilisation of a running workload's replicas. Screenshots land in test-artifacts/ (see
test_browser.py)."""

from __future__ import annotations

import os
import re

import pytest

from mlplatform.compute import services
from mlplatform.compute.models import Workload
from tests.compute.test_local_backend import wait_for
from tests.compute.test_utilisation_page import busy
from tests.e2e import test_browser
from tests.e2e.test_browser import CHROMIUM, _login, _shot
from tests.factories import job_row

browser, page = test_browser.browser, test_browser.page
__all__ = ["busy"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]


def test_the_job_list_shows_25_at_a_time_and_searches_by_name(page, live_server, project, admin_user):
    from playwright.sync_api import expect

    for i in range(40):
        job_row(project, f"{'mnist' if i % 4 == 0 else 'resnet'}_{i:02d}", state="SUCCEEDED")
    _login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/team-a/training/")

    rows = page.locator("tr[data-job]")
    expect(rows).to_have_count(25)
    expect(page.get_by_test_id("page-range")).to_have_text("1\u201325 of 40")
    _shot(page, "training-jobs-paged")
    page.get_by_role("link", name="Next →").click()
    expect(rows).to_have_count(15)
    expect(page.get_by_test_id("page-range")).to_have_text("26\u201340 of 40")

    page.get_by_role("searchbox", name="Search by name").fill("mnist")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(10)  # one page again: mnist_00, _04, ... _36
    assert all(name.startswith("mnist_") for name in rows.evaluate_all("rs => rs.map(r => r.dataset.job)"))
    expect(page.get_by_test_id("page-range")).to_have_count(0)
    page.get_by_role("link", name="Clear").click()
    expect(rows).to_have_count(25)


def test_a_connection_form_marks_every_bad_field_and_keeps_the_typed_secret(page, live_server, admin_user):
    from playwright.sync_api import expect

    _login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/team-a/storage/")
    page.get_by_label("Name").fill("Bad_Name")
    page.get_by_label("Buckets").fill("models BAD!")
    page.get_by_label("Endpoint URL").fill("not-a-url")
    page.get_by_label("Secret access key").fill("typed-secret")
    page.get_by_role("button", name="Add connection").click()

    invalid = page.locator("form .is-invalid")
    expect(invalid).to_have_count(4)  # name, buckets, endpoint and the missing access key, at once
    names = invalid.evaluate_all("els => els.map(e => e.name)")
    assert sorted(names) == ["access_key_id", "buckets", "endpoint_url", "name"]
    expect(page.get_by_label("Name")).to_have_value("Bad_Name")
    expect(page.get_by_label("Endpoint URL")).to_have_value("not-a-url")
    expect(page.get_by_label("Secret access key")).to_have_value("typed-secret")
    _shot(page, "storage-form-errors")


def test_a_running_workloads_page_shows_its_replicas_use_as_it_changes(page, live_server, busy, admin_user):
    from playwright.sync_api import expect

    def running():  # what beat's sync does in production
        services.workloads_sync()
        busy.refresh_from_db()
        return busy.state == Workload.State.RUNNING

    wait_for(running, "the busy workload to be seen running")
    _login(page, live_server, "alice")
    page.goto(f"{live_server.url}{busy.get_absolute_url()}")
    expect(page.locator("#workload-status")).to_contain_text("RUNNING")

    replica = page.get_by_test_id("usage-worker-0")
    expect(replica).to_contain_text(re.compile(r"[\d.]+ cores"), timeout=30_000)
    expect(replica).to_contain_text("no GPU asked for")
    _shot(page, "utilisation")
