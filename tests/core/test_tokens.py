"""Personal API tokens: shown once, stored hashed, and refused once revoked or expired."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from mlplatform.core.models import ApiToken
from mlplatform.core.services import api_token_create, token_digest
from tests.forms import read_form


def test_a_token_is_shown_once_and_stored_only_as_a_digest(api, admin_user):
    response = api(admin_user).post("/api/tokens/", {"name": "laptop"}, format="json")

    assert response.status_code == 201
    raw = response.json()["token"]
    row = ApiToken.objects.get(name="laptop")
    assert row.digest == token_digest(raw)
    assert raw not in (row.digest, row.prefix)
    listed = api(admin_user).get("/api/tokens/").json()
    assert all("token" not in t for t in listed)
    assert "laptop" in {t["name"] for t in listed}


def test_a_token_authenticates_and_records_its_last_use(api, admin_user):
    token, raw = api_token_create(user=admin_user, name="script")
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.get("/api/projects/")

    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoked_and_expired_tokens_get_401_with_the_reason(api, admin_user):
    revoked, revoked_raw = api_token_create(user=admin_user, name="old")
    api(admin_user).delete(f"/api/tokens/{revoked.pk}/")
    expired, expired_raw = api_token_create(
        user=admin_user, name="short", expires_at=timezone.now() + timedelta(seconds=1)
    )
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    for raw, reason in ((revoked_raw, "revoked"), (expired_raw, "expired"), ("mlp_made-up", "Invalid")):
        client = api()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        response = client.get("/api/projects/")
        assert response.status_code == 401
        assert reason in response.json()["detail"]


def test_malformed_authorization_header_is_a_401(api, project):
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")

    assert client.get("/api/projects/").status_code == 401


def test_users_cannot_revoke_tokens_of_others(api, admin_user, outsider):
    token, _ = api_token_create(user=admin_user, name="mine")

    response = api(outsider).delete(f"/api/tokens/{token.pk}/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_names_are_unique_while_active_and_expiry_must_be_future(api, admin_user):
    client = api(admin_user)
    client.post("/api/tokens/", {"name": "ci"}, format="json")

    duplicate = client.post("/api/tokens/", {"name": "ci"}, format="json")
    past = client.post("/api/tokens/", {"name": "p", "expires_at": "2001-01-01T00:00:00Z"}, format="json")

    assert duplicate.status_code == 409
    assert "ci" in duplicate.json()["name"][0]
    assert past.status_code == 400
    assert "future" in past.json()["expires_at"][0]


def test_issue_token_prints_only_a_working_token(capsys, api, admin_user):
    call_command("issue_token", "alice", "--name", "from-cli")

    raw = capsys.readouterr().out.strip()
    assert raw.startswith("mlp_")
    assert "\n" not in raw
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/projects/").status_code == 200


def test_issue_token_for_an_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="ghost"):
        call_command("issue_token", "ghost")


def test_the_token_form_refuses_a_taken_name_keeping_the_chosen_lifetime(client, admin_user):
    client.force_login(admin_user)
    client.post("/settings/tokens/", {"name": "ci", "lifetime": "90"})

    response = client.post("/settings/tokens/", {"name": "ci", "lifetime": "7"})

    form = read_form(response.content.decode())
    assert response.status_code == 400
    assert form.invalid == {"name"}
    assert form.values == {**form.values, "name": "ci", "lifetime": "7"}
