"""The prediction pages in headless Chromium: a member creates a model and a version from the forms,
follows the version to READY on the local backend with the real predictor
(python -m prediction_app.serving) and predicts from its "try it" box; a viewer sees the same pages
without their write buttons. Screenshots land in test-artifacts/ (see test_browser.py)."""

from __future__ import annotations

import json
import re
import threading

import pytest

from mlplatform.core.models import Role
from tests.e2e import test_browser
from tests.e2e.test_browser import CHROMIUM, _login, _shot
from tests.prediction import conftest as prediction
from tests.prediction.conftest import MODEL_URI, needs_predictor

# the fixtures of the other browser tests and of the prediction tests, shared here
browser, page = test_browser.browser, test_browser.page
team, iris_model, local = prediction.team, prediction.iris_model, prediction.local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("real-worker"),
    needs_predictor,
    pytest.mark.skipif(
        not __import__("os").path.exists(CHROMIUM),
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
]
PAGES = "/projects/team-a/prediction/"
READY_MS = 90_000  # a loaded machine: admission, the predictor's start and its model's load


@pytest.fixture
def beat(celery_worker):
    """What beat sends in production, every half second: compute's sync and the versions'."""
    from mlplatform.compute.tasks import sync_workloads
    from prediction_app.tasks import sync_versions

    stop = threading.Event()

    def tick():
        while not stop.wait(0.5):
            sync_workloads.delay()
            sync_versions.delay()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)


def test_a_member_deploys_a_version_from_the_forms_and_tries_it_a_viewer_only_looks(
    page, browser, live_server, local, member, iris_model, beat
):
    from playwright.sync_api import expect

    member(Role.EDITOR, "erin")
    member(Role.VIEWER, "vera")
    model, features = iris_model
    _login(page, live_server, "erin")
    page.get_by_role("heading", name="Dashboard", exact=True).wait_for()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Prediction").click()
    expect(page.get_by_text("No models in this project")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("iris")
    page.get_by_label("Description").fill("Fisher's flowers")
    page.locator("#model-form").get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="iris", exact=True)).to_be_visible()
    expect(page.get_by_text("No versions yet")).to_be_visible()

    page.get_by_role("link", name="New version").click()
    page.wait_for_load_state("load")
    expect(page.get_by_label("Name", exact=True)).to_have_value("v1")
    page.get_by_label("Model files (deploymentUri)").fill(MODEL_URI)
    expect(page.get_by_label("Framework")).to_have_value("SCIKIT_LEARN")
    page.get_by_label("Description").fill("the first")
    _shot(page, "prediction-version-form")
    page.get_by_role("button", name="Create version").click()

    expect(page.get_by_role("heading", name="v1")).to_be_visible()
    assert page.url.endswith(f"{PAGES}iris/v1/")
    state = page.locator("#version-status").get_by_test_id("state").first
    expect(state).to_have_text(re.compile("CREATING|READY"))
    # the status polls itself every 2 s until the version settles
    expect(state).to_have_text("READY", timeout=READY_MS)
    expect(page.get_by_test_id("replicas")).to_contain_text(re.compile("running", re.IGNORECASE))
    expect(page.get_by_test_id("events")).to_contain_text("QUEUED")
    expect(page.get_by_test_id("failure")).to_have_count(0)
    body = page.get_by_test_id("version-body")
    expect(body).to_contain_text(f'"deploymentUri": "{MODEL_URI}"')
    expect(body).to_contain_text('"state": "READY"')  # it follows the polled status

    instances = features[:5].tolist()
    page.get_by_label("Instances (JSON list)").fill(json.dumps(instances))
    page.get_by_role("button", name="Predict").click()
    predictions = page.get_by_test_id("predictions")
    expect(predictions).to_be_visible()
    assert json.loads(predictions.inner_text()) == model.predict(instances).tolist()
    _shot(page, "prediction-version")

    page.get_by_label("Instances (JSON list)").fill("[[1, 2]]")
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_test_id("try-error")).to_contain_text("Prediction failed")

    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="iris").click()
    row = page.locator("tr[data-version='v1']")
    expect(row.get_by_test_id("state")).to_have_text("READY")
    expect(row).to_contain_text("default")
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Prediction").click()
    expect(page.locator("tr[data-model='iris']")).to_contain_text("v1")
    _shot(page, "prediction-models")

    # a viewer: the same pages, without a form or a button that would change or predict
    viewer = browser.new_context(viewport={"width": 1360, "height": 860}).new_page()
    try:
        _login(viewer, live_server, "vera")
        viewer.get_by_role("heading", name="Dashboard", exact=True).wait_for()
        viewer.goto(f"{live_server.url}{PAGES}")
        expect(viewer.locator("tr[data-model='iris']")).to_be_visible()
        expect(viewer.locator("#model-form")).to_have_count(0)
        viewer.get_by_role("link", name="iris", exact=True).click()
        expect(viewer.locator("tr[data-version='v1']").get_by_test_id("state")).to_have_text("READY")
        expect(viewer.get_by_role("link", name="New version")).to_have_count(0)
        viewer.get_by_role("link", name="v1", exact=True).click()
        expect(viewer.locator("#version-status").get_by_test_id("state").first).to_have_text("READY")
        expect(viewer.get_by_test_id("version-body")).to_be_visible()
        for name in ("Make default", "Delete", "Predict"):
            expect(viewer.get_by_role("button", name=name)).to_have_count(0)
        expect(viewer.get_by_test_id("try-refused")).to_be_visible()
        _shot(viewer, "prediction-version-viewer")
        assert viewer.goto(f"{live_server.url}{PAGES}iris/new/").status == 403
    finally:
        viewer.context.close()
