"""Notebooks in headless Chromium: a user creates a notebook from the form, watches it start on its
page, and opens JupyterLab through the authenticating proxy. The console is served over ASGI by
uvicorn (the proxy needs it; live_server is WSGI), with a real Celery worker and the local backend.

Screenshots land in test-artifacts/ so that a person can look at the pages.
"""

from __future__ import annotations

import os
import time

import pytest

from mlplatform.compute.tasks import sync_workloads
from notebooks_app.models import Notebook
from tests.e2e import test_browser as console_browser
from tests.factories import PASSWORD, quota

JUPYTERLAB_MAIN = "#jp-main-dock-panel"
CHROMIUM, _shot = console_browser.CHROMIUM, console_browser._shot
browser, page = console_browser.browser, console_browser.page  # the console's browser fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("real-worker"),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]


@pytest.fixture
def team(project, celery_worker, images, notebook_compute, machine_gpus):
    machine_gpus(2)  # what the form offers follows the machine's GPUs: here two T4s
    quota(project, "cpu", nominal_cpu=4, nominal_memory_gib=16)
    quota(project, "nvidia-tesla-t4", nominal_gpus=2, nominal_cpu=8, nominal_memory_gib=32)
    return project


def _wait_for_state(page, state: str, timeout: float = 120) -> None:
    """Until the page's header (refreshed by htmx) shows `state`; syncs workloads as beat would."""
    badge = page.locator("#notebook-header [data-testid=state]")
    deadline = time.monotonic() + timeout
    while badge.inner_text() != state:
        sync_workloads.delay()
        assert badge.inner_text() != "FAILED", page.locator("#notebook-status").inner_text()
        assert time.monotonic() < deadline, f"still {badge.inner_text()}: {Notebook.objects.get().reason}"
        page.wait_for_timeout(500)


def test_a_user_creates_a_notebook_from_the_form_and_opens_jupyterlab_through_the_proxy(
    page, console_url, team, admin_user
):
    page.goto(f"{console_url}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard", exact=True).wait_for()

    page.goto(f"{console_url}/projects/team-a/notebooks/")
    page.get_by_role("link", name="Create your first notebook").click()
    page.get_by_label("Name").fill("lab")
    assert page.locator("label[for=f-flavor-cpu]").get_by_test_id("quota-hint").inner_text() == (
        "4 of 4 vCPUs free now"
    )
    assert page.locator("label[for=f-flavor-nvidia-tesla-t4]").get_by_test_id("quota-hint").inner_text() == (
        "2 of 2 GPUs free now"
    )
    # the CUDA image and the GPU count are offered for GPU flavors only
    cuda = page.locator("#f-image option[value=pytorch-cuda]")
    page.get_by_label("NVIDIA T4 16GB").check()
    assert page.locator("#f-gpus").is_visible()
    assert cuda.is_enabled()
    page.get_by_label("CPU only").check()
    assert page.locator("#f-gpus").is_hidden()
    assert cuda.is_disabled()
    page.get_by_label("Environment").fill("GREETING=hello")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky bars stay on top in a full-page shot
    _shot(page, "notebooks-form")
    page.get_by_role("button", name="Create and start").click()

    page.wait_for_url("**/projects/team-a/notebooks/lab/")
    _wait_for_state(page, "ACTIVE")
    assert page.get_by_test_id("steps").locator("li[data-status=done]").count() == 6
    assert page.get_by_test_id("events").get_by_text("ACTIVE").count() >= 1
    _shot(page, "notebook-detail")

    with page.context.expect_page() as opened:
        page.get_by_test_id("open").click()
    lab = opened.value
    lab.wait_for_selector(JUPYTERLAB_MAIN, timeout=90_000)
    lab.locator(".jp-Launcher").first.wait_for(timeout=60_000)
    assert lab.url.startswith(f"{console_url}/notebooks/team-a/lab/lab")
    assert Notebook.objects.get().secret not in lab.content()
    _shot(lab, "jupyterlab")

    # back on the list: the notebook is ACTIVE with its Open button
    page.goto(f"{console_url}/projects/team-a/notebooks/")
    row = page.locator("tr[data-notebook=lab]")
    assert row.get_by_test_id("state").inner_text() == "ACTIVE"
    assert row.get_by_role("link", name="Open").get_attribute("target") == "_blank"
