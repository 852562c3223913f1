"""Pages that are not there, and errors of ours, answer with the console's own pages and a way back
(not Django's bare "Not Found"), while the GCP facades keep their Google-style bodies."""

from __future__ import annotations

from django.test import RequestFactory
from django.views import defaults


def test_a_missing_page_is_the_consoles_404_with_a_way_back(client, member):
    client.force_login(member())

    response = client.get("/projects/team-a/no-such-page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "This page is not here" in html
    assert 'href="/"' in html  # back to the dashboard
    assert "console.css" in html  # styled as every page


def test_a_project_someone_is_not_a_member_of_is_the_same_404(client, outsider):
    client.force_login(outsider)

    response = client.get("/projects/team-a/training/")

    assert response.status_code == 404
    assert "This page is not here" in response.content.decode()


def test_the_facades_still_answer_404_in_googles_shape(client):
    response = client.get("/v1/projects/team-a/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_the_500_page_renders_without_a_request_context_and_leads_back(db):
    # Django renders 500.html with an empty context (the request may be what failed).
    response = defaults.server_error(RequestFactory().get("/projects/team-a/"))

    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html
    assert "Back to the dashboard" in html
