"""The console in headless Chromium (Debian's chromium, driven by Playwright).

Screenshots land in test-artifacts/ so that a person can look at the pages.
"""

import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from mlplatform.core.models import ApiToken, Role
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, quota
from tests.packages import uploaded

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop in this thread; the ORM calls of the test stay synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE")
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, seeded_catalog):
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    page = context.new_page()
    yield page
    context.close()


def _login(page, live_server, username: str):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_login_shows_the_dashboard_with_quota_bars(page, live_server, project, admin_user):
    quota(project, "nvidia-a100-80gb", nominal_gpus=8, nominal_cpu=96, nominal_memory_gib=1360)
    quota(project, "nvidia-tesla-t4", nominal_gpus=4, nominal_cpu=16, nominal_memory_gib=64)
    quota(project, "cpu", nominal_cpu=64, nominal_memory_gib=256)
    vision = ProjectFactory(slug="vision", display_name="Vision")
    MembershipFactory(project=vision, user=admin_user, role=Role.VIEWER)

    _login(page, live_server, "alice")

    page.get_by_role("heading", name="Dashboard", exact=True).wait_for()
    team = page.get_by_role("region", name="Team A")
    assert (
        team.get_by_role("progressbar", name="GPUs of nvidia-a100-80gb in use").get_attribute("aria-valuemax")
        == "8"
    )
    assert team.locator("canvas.quota-chart").count() == 1
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length >= 1")
    _shot(page, "dashboard")

    # the project switcher leads to the other project's pages
    page.get_by_role("button", name="Switch project").click()
    page.get_by_role("link", name=re.compile("Vision")).click()
    page.get_by_role("heading", name="Vision", exact=True).wait_for()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Training").click()
    page.get_by_role("heading", name="Jobs", exact=True).wait_for()
    assert "/projects/vision/training/" in page.url


def test_a_user_creates_a_token_sees_the_snippet_once_and_revokes_it(page, live_server, project, admin_user):
    _login(page, live_server, "alice")
    page.get_by_role("link", name="API tokens").first.click()

    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()

    token = page.locator("#new-token").inner_text()
    assert token.startswith("mlp_")
    snippet = page.locator("#snippet").inner_text()
    assert f'Credentials("{token}")' in snippet
    assert f'"api_endpoint": "{live_server.url}/"' in snippet
    assert 'parent="projects/team-a"' in snippet
    _shot(page, "tokens")

    page.get_by_role("row", name=re.compile("laptop")).get_by_role("button", name="Revoke").click()
    _confirm(page, "Revoke 'laptop'?", "Revoke token")
    page.get_by_role("row", name=re.compile("laptop")).get_by_text("revoked").wait_for()
    assert ApiToken.objects.get(name="laptop").revoked_at is not None

    page.reload()
    assert page.locator("#new-token").count() == 0  # shown once, never again


def test_non_members_get_404_on_project_pages(page, live_server, project, outsider):
    _login(page, live_server, "mallory")
    page.get_by_role("heading", name="Dashboard", exact=True).wait_for()

    response = page.goto(f"{live_server.url}/projects/team-a/")

    assert response.status == 404
    assert page.get_by_text("You are not in any project yet").count() == 0


def test_a_project_admin_adds_s3_tests_it_and_uploads_through_the_browser(
    page, live_server, project, admin_user, s3_endpoint, s3_bucket_factory, tmp_path
):
    s3_bucket_factory("team-a-browser")
    _login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/team-a/storage/")

    page.get_by_label("Name").fill("ceph")
    page.get_by_label("Buckets").fill("team-a-browser")
    page.get_by_label("Endpoint URL").fill(s3_endpoint)
    page.get_by_label("Access key ID").fill("AKIABROWSER")
    page.get_by_label("Secret access key").fill("browser-secret-never-shown")
    page.get_by_role("button", name="Add connection").click()
    page.get_by_role("button", name="Test connection").click()
    page.get_by_text("team-a-browser: delete").wait_for()
    assert page.locator(".checks .text-danger").count() == 0
    assert "browser-secret-never-shown" not in page.content()
    _shot(page, "storage")

    page.get_by_role("link", name="s3://team-a-browser").click()
    upload = tmp_path / "metrics.json"
    upload.write_text('{"accuracy": 0.97}')
    page.locator("#file-input").set_input_files(str(upload))
    page.locator("tbody td").filter(has_text="metrics.json").first.wait_for()
    _shot(page, "browse")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "metrics.json"


def test_an_upload_says_saving_until_the_server_stored_it_and_then_uploaded_or_the_servers_refusal(
    page, live_server, project, admin_user, settings, tmp_path, monkeypatch
):
    from playwright.sync_api import expect

    from mlplatform.storage import services as storage

    # Given a bucket whose server answers an upload only once the test lets it
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    (settings.STORAGE_LOCAL_ROOT / "demo").mkdir(parents=True)
    storage.storage_connection_create(project=project, name="local", kind="local", buckets=["demo"])
    answer, real_write = threading.Event(), storage.object_write

    def stored_then_held(**kwargs):
        info = real_write(**kwargs)
        answer.wait(30)
        return info

    monkeypatch.setattr(storage, "object_write", stored_then_held)
    _login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/team-a/storage/browse/?uri=gs://demo/")
    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(512 * 1024))

    # When a file is uploaded: every byte sent, the server not done yet
    page.locator("#file-input").set_input_files(str(weights))
    status = page.locator("#uploads .upload").filter(has_text="weights.bin").locator(".status")

    # Then the bar says it is being saved, and uploaded only once the server answered
    expect(status).to_have_text("saving…")
    _shot(page, "upload-saving")
    answer.set()
    expect(status).to_have_text("uploaded")
    page.locator("tbody td").filter(has_text="weights.bin").first.wait_for()  # the page, reloaded

    # and a refusal reads as the server wrote it (a limit lowered after the page was served)
    settings.STORAGE_UPLOAD_MAX_BYTES = 1000
    page.locator("#file-input").set_input_files(str(weights))
    refused = page.locator("#uploads .upload").filter(has_text="weights.bin").locator(".status")
    expect(refused).to_have_text("failed: Uploads are limited to 1,000 bytes.")
    _shot(page, "upload-refused")


def test_the_queue_shows_why_a_workload_waits_and_a_member_cancels_it(page, live_server, project, admin_user):
    from mlplatform.compute import services
    from mlplatform.compute.spec import spec_from_dict

    quota(project, "nvidia-a100-80gb", nominal_gpus=8, nominal_cpu=96, nominal_memory_gib=1360)

    def submit(name: str, gpus: int):
        group = {
            "role": "worker",
            "image": "trainer:1",
            "resources": {"flavor": "nvidia-a100-80gb", "gpus": gpus},
        }
        spec = spec_from_dict({"name": name, "kind": "batch", "groups": [group]})
        return services.workload_submit(project=project, spec=spec, owner=admin_user)

    submit("big-run", 8)
    submit("sweep-1", 2)
    services.admission_pass()
    _login(page, live_server, "alice")

    page.get_by_role("link", name="Queue").click()
    pending = page.locator("tr[data-workload='sweep-1']")
    assert "waiting for 2 x nvidia-a100-80gb: team-a uses 8 of 8" in pending.inner_text()
    assert "8 in use" in page.locator("main").inner_text()
    _shot(page, "queue")

    pending.get_by_role("link", name="sweep-1").click()
    assert page.get_by_test_id("position").inner_text() == "1"
    assert "QUEUED" in page.get_by_test_id("events").inner_text()
    _shot(page, "workload-queued")
    page.get_by_role("button", name="Cancel").click()
    _confirm(page, "Cancel sweep-1?", "Cancel workload")

    assert page.get_by_test_id("state").first.inner_text() == "CANCELLED"
    assert "cancelled by alice" in page.get_by_test_id("events").inner_text()


def test_a_member_submits_a_training_job_from_the_form_and_follows_it(
    page, live_server, project, admin_user, settings, tmp_path
):
    from datetime import timedelta

    from mlplatform.compute.models import Workload
    from mlplatform.storage.services import storage_connection_create
    from tests.factories import job_row

    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    uploaded(settings.STORAGE_LOCAL_ROOT / "demo", "packages/trainer-0.1.tar.gz")
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    _login(page, live_server, "alice")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Training").click()
    page.get_by_role("link", name="Submit your first job").click()
    from playwright.sync_api import expect

    page.wait_for_load_state("load")  # the form's script follows the id only once it runs
    page.get_by_label("Job ID").fill("mnist_browser")
    expect(page.get_by_label("Job directory")).to_have_value("gs://demo/jobs/mnist_browser")
    page.get_by_label("Package URIs").fill("gs://demo/packages/trainer-0.1.tar.gz")
    page.get_by_label("Python module").fill("trainer.task")
    page.get_by_label("Arguments").fill("--epochs\n2")
    page.get_by_label("Scale tier").select_option("CUSTOM")
    page.get_by_label("Machine type").first.select_option("n1-standard-4")
    snippet = page.get_by_test_id("snippet")
    snippet.filter(has_text='"masterType": "n1-standard-4"').wait_for()  # the last field set
    assert '"jobId": "mnist_browser"' in snippet.inner_text()
    assert '"pythonModule": "trainer.task"' in snippet.inner_text()
    assert f'"api_endpoint": "{live_server.url}/"' in snippet.inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "training-form")

    page.get_by_role("button", name="Submit job").click()
    page.get_by_role("heading", name="mnist_browser").wait_for()
    assert page.get_by_test_id("state").first.inner_text() in ("QUEUED", "PREPARING")
    assert "QUEUED" in page.get_by_test_id("events").inner_text()
    assert '"environment": "cloud"' in page.get_by_test_id("tf-config").first.inner_text()
    _shot(page, "training-job")

    finished = job_row(project, "resnet_sweep_3", state="FAILED", labels={"team": "vision"})
    Workload.objects.filter(pk=finished.workload_id).update(
        reason="master-0 exited with code 2",
        started_at=finished.create_time - timedelta(minutes=65),
        finished_at=finished.create_time,
        gpu_hours=1.25,
    )
    page.get_by_role("link", name="Jobs", exact=True).first.click()
    page.locator("tr[data-job='mnist_browser']").wait_for()
    assert "master-0 exited with code 2" in page.locator("tr[data-job='resnet_sweep_3']").inner_text()
    _shot(page, "training-jobs")


def test_a_jobs_log_is_searched_wrapped_and_downloaded_whole(
    page, live_server, project, admin_user, settings, tmp_path, local_compute
):
    from playwright.sync_api import expect

    from mlplatform.storage.services import storage_connection_create
    from tests.factories import replica_wrote
    from training_app.services import job_create

    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    storage_connection_create(project=project, name="local", kind="local", buckets=["demo"])
    uploaded(settings.STORAGE_LOCAL_ROOT / "demo")
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    training = {"scaleTier": "BASIC", "pythonModule": "trainer.task"}
    training["packageUris"] = ["gs://demo/packages/trainer-0.1.tar.gz"]
    job = job_create(project=project, body={"jobId": "mnist_log", "trainingInput": training})
    written = f"epoch 1 loss 0.9\nepoch 2 LOSS 0.5\nwarning: {'tf.data ' * 60}\n"
    replica_wrote(job.workload, written)
    _login(page, live_server, "alice")
    page.goto(f"{live_server.url}{job.get_absolute_url()}")
    log = page.get_by_test_id("log")
    expect(log).to_contain_text("epoch 2 LOSS 0.5")
    assert "{" not in page.locator(".log-panel").inner_text()  # no template text leaks onto the page

    page.get_by_label("Search the log").fill("loss")
    expect(log).to_have_text("epoch 1 loss 0.9\nepoch 2 LOSS 0.5\n")
    page.get_by_label("Search the log").fill("nan")
    expect(page.get_by_test_id("no-match")).to_have_text("No lines match “nan”.")
    page.get_by_label("Search the log").fill("")
    expect(log).to_contain_text("warning: tf.data")

    white_space = "() => getComputedStyle(document.querySelector('#replica-log pre')).whiteSpace"
    assert page.evaluate(white_space) == "pre"  # long lines scroll sideways in the log
    page.get_by_label("Wrap lines").check()
    assert page.evaluate(white_space) == "pre-wrap"
    expect(page.get_by_label("Timestamps")).to_be_disabled()
    expect(page.get_by_text("timestamps are not recorded by this backend")).to_be_visible()
    _shot(page, "training-job-log")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "mnist_log-master-0.log"
    assert Path(download.value.path()).read_text() == written


def test_a_running_notebooks_page_follows_its_log_and_a_stop_reads_as_stopped_by_its_user(
    page, live_server, project, admin_user, local_compute
):
    from playwright.sync_api import expect

    from mlplatform.compute import services as compute
    from mlplatform.quotas.models import Flavor
    from notebooks_app.images import seed_images
    from notebooks_app.models import NotebookImage
    from notebooks_app.services import notebook_create
    from tests.factories import replica_wrote

    seed_images(NotebookImage, Flavor)
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    notebook = notebook_create(project=project, owner=admin_user, name="lab")
    replica_wrote(notebook.workload, "[I ServerApp] Jupyter Server is running\n")
    _login(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/team-a/notebooks/lab/")
    log = page.get_by_test_id("log")
    expect(log).to_have_text("[I ServerApp] Jupyter Server is running\n")

    replica_wrote(notebook.workload, "[I ServerApp] Jupyter Server is running\n[I] Kernel started\n")
    expect(log).to_contain_text("[I] Kernel started")  # polled: no reload
    _shot(page, "notebook-log")

    page.get_by_role("button", name="Stop").click()
    _confirm(page, "Stop lab?", "Stop notebook")
    events = page.get_by_test_id("events")
    expect(events).to_contain_text("stop requested by alice")
    compute.workload_stop(workload_id=notebook.workload_id)
    expect(page.get_by_test_id("stopped")).to_contain_text("Stopped by alice.")
    expect(events.locator(".badge").first).to_have_text("STOPPED")
    assert "cancel" not in page.locator("#notebook-status").inner_text().lower()
    _shot(page, "notebook-stopped")


def _confirm(page, question: str, action: str) -> None:
    """Answer the console's one confirmation dialog (base.html), after checking what it asks."""
    dialog = page.locator("#confirm-dialog")
    dialog.get_by_role("button", name=action, exact=True).wait_for()
    assert dialog.locator("#confirm-title").inner_text() == question
    dialog.get_by_role("button", name=action, exact=True).click()


NARROW_PAGES = [
    "/",
    "/projects/team-a/",
    "/projects/team-a/notebooks/",
    "/projects/team-a/notebooks/new/",
    "/projects/team-a/training/",
    "/projects/team-a/training/new/",
    "/projects/team-a/prediction/",
    "/projects/team-a/storage/",
    "/projects/team-a/queue/",
    "/projects/team-a/distributed/",
    "/projects/team-a/distributed/new/",
    "/settings/tokens/",
    "/projects/team-a/no-such-page/",
]


def test_every_main_page_fits_a_window_820_pixels_wide(
    browser, seeded_catalog, live_server, project, admin_user
):
    quota(project, "nvidia-a100-80gb", nominal_gpus=8, nominal_cpu=96, nominal_memory_gib=1360)
    context = browser.new_context(viewport={"width": 820, "height": 1000})
    page = context.new_page()
    _login(page, live_server, "alice")
    page.get_by_role("heading", name="Dashboard", exact=True).wait_for()

    too_wide = {}
    for path in NARROW_PAGES:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.scrollingElement.scrollWidth")
        if width > 820:
            too_wide[path] = width
        _shot(page, "narrow-" + (path.strip("/").replace("/", "-") or "dashboard"))
    context.close()

    assert too_wide == {}  # no page scrolls sideways (tables scroll inside their cards)
