"""The prediction pages: models, a model's versions, the version form, a version's state and its
"try it" box, which predicts through the gateway as the signed-in user."""

from __future__ import annotations

import pytest

from mlplatform.compute.models import Workload
from mlplatform.core.models import Role
from prediction_app import services
from prediction_app.models import Version

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
    assert b"version.deploymentUri" in refused.content
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


def test_viewers_see_versions_but_cannot_change_or_try_them(team, client, member, stand_in):
    services.model_create(project=team, body={"name": "iris"}, user=None)
    client.force_login(member(Role.VIEWER, "vera"))

    assert b"iris" in client.get(PAGES).content
    assert client.get(f"{PAGES}iris/").status_code == 200
    assert client.post(PAGES, {"name": "other"}).status_code == 403
    assert client.get(f"{PAGES}iris/new/").status_code == 403
    assert Version.objects.count() == 0
