"""Who may see, use and change a notebook: one rule (selectors.Access), the same answer from the
pages, the REST API, Workbench and the proxy (served by uvicorn, as the console runs)."""

from __future__ import annotations

import pytest
import requests
from django.test import Client

from mlplatform.core.models import Role
from notebooks_app.models import Notebook
from notebooks_app.services import notebook_create
from tests.factories import quota

pytestmark = pytest.mark.django_db(transaction=True)  # the proxy reads the rows from its own thread

PAGE = "/projects/team-a/notebooks/lab/"
API = "/api/projects/team-a/notebooks/lab/"


@pytest.fixture
def lab(seeded_catalog, images, project, member) -> Notebook:
    """A stopped notebook of vera's, made while she was an editor; she is a viewer now."""
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    vera = member(Role.EDITOR, "vera")
    notebook = notebook_create(project=project, owner=vera, name="lab", start=False)
    vera.memberships.update(role=Role.VIEWER)
    return notebook


def answers(user, notebook: Notebook, api, token_for, console_url) -> dict[str, int]:
    """What each way in answers `user` who tries to start the notebook, and to open it."""
    browser = Client()
    browser.force_login(user)
    instance = f"/v2/projects/team-a/locations/{notebook.location}/instances/lab"
    bearer = {"Authorization": f"Bearer {token_for(user)}"}
    proxy = f"{console_url}/notebooks/team-a/lab/api/status"
    return {
        "page": browser.post(f"{PAGE}start/").status_code,
        "api": api(user).post(f"{API}start/").status_code,
        "workbench": api(user).post(f"{instance}:start").status_code,
        "proxy": requests.get(proxy, headers=bearer, timeout=30).status_code,
    }


def test_a_viewer_who_owns_a_notebook_is_refused_alike_by_the_page_the_api_workbench_and_the_proxy(
    lab, member, api, token_for, console_url
):
    vera = lab.owner

    refused = answers(vera, lab, api, token_for, console_url)

    # 403 where a viewer may see the notebook; the proxy answers every refusal with a plain 404
    assert refused == {"page": 403, "api": 403, "workbench": 403, "proxy": 404}
    assert Notebook.objects.get(pk=lab.pk).state == Notebook.State.STOPPED
    browser = Client()
    browser.force_login(vera)
    page = browser.get(PAGE)
    assert page.status_code == 200  # she still sees it
    assert "Start</button>" not in page.content.decode()


def test_an_editor_who_does_not_own_it_may_start_and_open_any_notebook_of_the_project(
    lab, member, api, token_for, console_url
):
    erin = member(Role.EDITOR, "erin")

    allowed = answers(erin, lab, api, token_for, console_url)

    # the page's start queues it; the others find it already starting; the proxy shows its state
    assert allowed == {"page": 302, "api": 400, "workbench": 400, "proxy": 503}
    assert Notebook.objects.get(pk=lab.pk).state == Notebook.State.QUEUED
