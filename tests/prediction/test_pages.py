"""The prediction pages: models, a model's versions, the version form, a version's state and its
"try it" box, which predicts through the gateway as the signed-in user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mlplatform.compute.models import Workload
from mlplatform.core.models import Role
from prediction_app import services
from prediction_app.models import Version
from tests.forms import read_form

pytestmark = pytest.mark.django_db(transaction=True)
PAGES = "/projects/team-a/prediction/"


@pytest.fixture
def signed_in(client, member):
    client.force_login(member(Role.EDITOR, "erin"))
    return client


def test_create_a_model_and_a_version_from_the_pages_and_try_it(team, signed_in, stand_in):
    assert b"No models in this project" in signed_in.get(PAGES).content

    created = signed_in.post(PAGES, {"name": "iris", "description": "flowers"})
    assert created.status_code == 302
    refused = signed_in.post(
        f"{PAGES}iris/new/", {"name": "v1", "deploymentUri": "gs://nowhere/m/", "scaling": "manual"}
    )
    assert refused.status_code == 400
    assert read_form(refused.content.decode()).invalid == {"deploymentUri"}
    made = signed_in.post(
        f"{PAGES}iris/new/",
        {
            "name": "v1",
            "deploymentUri": "gs://demo/models/iris/",
            "framework": "SCIKIT_LEARN",
            "scaling": "manual",
            "nodes": "1",
        },
    )
    assert made.status_code == 302
    page = signed_in.get(f"{PAGES}iris/v1/")
    assert b"CREATING" in page.content
    assert b'hx-get="?fragment=status"' in page.content

    Workload.objects.update(state=Workload.State.RUNNING, backend="local")
    services.versions_sync()
    table = signed_in.get(f"{PAGES}iris/?fragment=table").content.decode()
    assert "READY" in table
    assert "default" in table
    tried = signed_in.post(f"{PAGES}iris/v1/try/", {"instances": "[[5.1, 3.5, 1.4, 0.2]]"})
    assert b'data-testid="predictions"' in tried.content
    assert b"0" in tried.content
    garbled = signed_in.post(f"{PAGES}iris/v1/try/", {"instances": "[[1, 2]"})
    assert b"Not JSON" in garbled.content
    wrong_shape = signed_in.post(f"{PAGES}iris/v1/try/", {"instances": "[[1, 2]]"})
    assert b"Prediction failed" in wrong_shape.content


def test_a_polled_version_page_follows_which_version_is_the_default(team, signed_in):
    signed_in.post(PAGES, {"name": "iris"})
    for name in ("v1", "v2"):
        signed_in.post(
            f"{PAGES}iris/new/",
            {"name": name, "deploymentUri": "gs://demo/models/iris/", "scaling": "manual", "nodes": "1"},
        )
    page = signed_in.get(f"{PAGES}iris/v1/").content.decode()
    workload = Version.objects.get(name="v1").workload_id
    assert f'hx-get="/projects/team-a/queue/workloads/{workload}/utilisation/"' in page  # live use
    before = signed_in.get(f"{PAGES}iris/v1/?fragment=status").content.decode()

    services.version_set_default(version=Version.objects.get(name="v2"))  # e.g. through the API
    after = signed_in.get(f"{PAGES}iris/v1/?fragment=status").content.decode()

    assert 'id="version-header" hx-swap-oob="true"' in before
    assert "default</span>" in before
    assert "Make default" not in before
    assert "default</span>" not in after
    assert "Make default" in after


def test_try_it_shows_an_answer_that_is_not_json_as_it_came(team, signed_in, monkeypatch):
    """A custom container (or a proxy in front of it) may answer plain text: the box says so."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlplatform.compute.values import Endpoint
    from prediction_app.gateway import predict_gateway
    from tests.background import http_serving

    class PlainText(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b"Bad Gateway")

        def log_message(self, *args):
            pass

    signed_in.post(PAGES, {"name": "iris"})
    signed_in.post(
        f"{PAGES}iris/new/",
        {"name": "v1", "deploymentUri": "gs://demo/models/iris/", "scaling": "manual", "nodes": "1"},
    )
    Workload.objects.update(state=Workload.State.RUNNING, backend="local")
    services.versions_sync()
    with http_serving(ThreadingHTTPServer(("127.0.0.1", 0), PlainText)) as url:
        monkeypatch.setattr("prediction_app.selectors.workload_endpoint", lambda **kwargs: Endpoint(url=url))
        predict_gateway.forget()
        tried = signed_in.post(f"{PAGES}iris/v1/try/", {"instances": "[[5.1, 3.5, 1.4, 0.2]]"})
    predict_gateway.forget()

    assert tried.status_code == 200
    assert b"The version answered 502 with no JSON: Bad Gateway" in tried.content


def test_a_version_page_shows_what_its_workload_cost(team, signed_in):
    # Given a version on one mls1-c1-m2 node (1 vCPU of the CPU flavor, 0.04 per vCPU-hour) that
    # served for 10 hours
    model = services.model_create(project=team, body={"name": "iris"}, user=None)
    services.version_create(
        model=model, body={"name": "v1", "deploymentUri": "gs://demo/models/iris/"}, user=None
    )
    now = timezone.now()
    Workload.objects.update(
        state=Workload.State.CANCELLED,
        started_at=now - timedelta(hours=11),
        finished_at=now - timedelta(hours=1),
    )

    page = signed_in.get(f"{PAGES}iris/v1/").content.decode()

    assert '<dt class="col-sm-4">Cost</dt><dd class="col-sm-8"><span data-testid="cost">$0.40</span>' in page


def test_viewers_see_versions_but_cannot_change_or_try_them(team, client, member, stand_in):
    services.model_create(project=team, body={"name": "iris"}, user=None)
    client.force_login(member(Role.VIEWER, "vera"))

    assert b"iris" in client.get(PAGES).content
    assert client.get(f"{PAGES}iris/").status_code == 200
    assert client.post(PAGES, {"name": "other"}).status_code == 403
    assert client.get(f"{PAGES}iris/new/").status_code == 403
    assert Version.objects.count() == 0


def test_the_version_form_marks_every_bad_field_at_once_and_keeps_what_was_typed(team, signed_in):
    services.model_create(project=team, body={"name": "iris"}, user=None)
    typed = {
        "name": "1st",
        "deploymentUri": "",
        "framework": "CAFFE",
        "machineType": "n1-standard-4",
        "scaling": "manual",
        "nodes": "0",
        "description": "typed",
    }

    response = signed_in.post(f"{PAGES}iris/new/", typed)

    form = read_form(response.content.decode())
    assert response.status_code == 400
    assert form.invalid == {"name", "deploymentUri", "framework", "nodes"}
    assert form.values["description"] == "typed"
    assert form.values["nodes"] == "0"
    assert not Version.objects.exists()
