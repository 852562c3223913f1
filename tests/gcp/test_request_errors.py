"""Requests the facades cannot read answer in Google's error shape, with the HTTP status as the
error's code: bodies nested too deep or too large, wrong content types and methods."""

from __future__ import annotations

import pytest
from django.conf import settings

from mlplatform.core.models import Role

NESTED = '{"jobId": "j", "labels": ' + "[" * 100_000 + "]" * 100_000 + "}"


@pytest.fixture
def editor_api(api, member, project):
    return api(member(Role.EDITOR))


def _google_error(response) -> dict:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    return error


@pytest.mark.parametrize(
    "path", ["/v1/projects/team-a/jobs", "/v2/projects/team-a/locations/local/instances?instanceId=lab"]
)
def test_a_body_nested_too_deep_is_invalid_json(editor_api, path):
    response = editor_api.post(path, NESTED, content_type="application/json")

    assert response.status_code == 400
    assert _google_error(response)["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    "path", ["/v1/projects/team-a/jobs", "/v2/projects/team-a/locations/local/instances?instanceId=lab"]
)
def test_a_body_over_the_upload_limit_is_refused_in_googles_shape(editor_api, path):
    body = '{"jobId": "' + "j" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'

    response = editor_api.post(path, body, content_type="application/json")

    assert response.status_code == 413
    assert _google_error(response)["status"] == "INVALID_ARGUMENT"


def test_the_native_api_answers_a_body_nested_too_deep_with_400(editor_api):
    response = editor_api.post("/api/projects/team-a/workloads/", NESTED, content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_wrong_content_type_is_415_and_says_so(editor_api):
    response = editor_api.post("/v1/projects/team-a/jobs", "jobId=j", content_type="text/plain")

    assert response.status_code == 415
    assert _google_error(response)["status"] == "INVALID_ARGUMENT"


def test_a_method_a_resource_does_not_have_is_405_and_says_so(editor_api):
    response = editor_api.put("/v1/projects/team-a/jobs", {}, format="json")

    assert response.status_code == 405
    assert _google_error(response)["status"] == "UNIMPLEMENTED"


def test_the_native_api_answers_a_body_over_the_upload_limit_with_413(editor_api):
    body = '{"spec": "' + "s" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'

    response = editor_api.post("/api/projects/team-a/workloads/", body, content_type="application/json")

    assert response.status_code == 413
    assert "detail" in response.json()
