"""A storage connection's endpoint is checked when it is saved, and "Test connection" answers
every failure with a message on the page (moto's S3 server stands in for a store)."""

from __future__ import annotations

import pytest

from mlplatform.core.models import Role
from mlplatform.storage.models import StorageConnection
from tests.forms import read_form
from tests.stores import free_port

PAGE = "/projects/team-a/storage/"
API = "/api/projects/team-a/storage/connections/"
S3_FORM = {
    "name": "ceph",
    "kind": "s3",
    "buckets": "models",
    "region": "us-east-1",
    "access_key_id": "AKIAEXAMPLE",
    "secret_access_key": "typed-secret",
}


@pytest.mark.parametrize("endpoint", ["not-a-url", "ftp://s3.example.com", "http://"])
def test_an_endpoint_that_is_not_an_http_url_is_refused_at_its_field(client, api, admin_user, endpoint):
    client.force_login(admin_user)

    page = client.post(PAGE, {**S3_FORM, "endpoint_url": endpoint})
    rest = api(admin_user).post(
        API, {**S3_FORM, "buckets": ["models"], "endpoint_url": endpoint}, format="json"
    )

    html = page.content.decode()
    assert page.status_code == 400
    assert "is-invalid" in html.split('id="c-endpoint"')[0].rsplit("<input", 1)[1]
    assert "not an endpoint URL" in html or "Enter a valid URL" in html
    assert f'value="{endpoint}"' in html  # what was typed stays
    assert rest.status_code == 400
    assert "endpoint_url" in rest.json()
    assert not StorageConnection.objects.exists()


def saved_before_endpoints_were_checked(project, endpoint: str) -> StorageConnection:
    """A row as an older console stored it, without the endpoint check."""
    connection = StorageConnection(project=project, name="old", kind="s3", buckets=["models"])
    connection.endpoint_url = endpoint
    connection.credentials = {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "secret"}
    connection.save()
    return connection


def test_testing_a_connection_with_a_bad_endpoint_says_so_on_the_page(client, api, project, member):
    editor = member(Role.EDITOR)
    client.force_login(editor)
    saved_before_endpoints_were_checked(project, "not-a-url")

    page = client.post(f"{PAGE}connections/old/test/")
    rest = api(editor).post(f"{API}old/test/")

    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="text-danger"' in html
    assert "&#x27;not-a-url&#x27; is not an endpoint URL" in html
    assert rest.status_code == 200
    assert [(c["name"], c["ok"]) for c in rest.json()] == [("endpoint", False)]


def test_testing_a_store_that_does_not_answer_or_lacks_the_bucket_says_why(
    client, project, member, s3_endpoint
):
    client.force_login(member(Role.EDITOR))
    connection = saved_before_endpoints_were_checked(project, f"http://127.0.0.1:{free_port()}")

    unreachable = client.post(f"{PAGE}connections/old/test/").content.decode()
    StorageConnection.objects.filter(pk=connection.pk).update(endpoint_url=s3_endpoint)
    missing = client.post(f"{PAGE}connections/old/test/").content.decode()

    assert "models: list</strong>: Cannot reach http://127.0.0.1:" in unreachable
    assert "models: list</strong>: Bucket &#x27;models&#x27; does not exist." in missing


def test_a_connection_with_several_bad_fields_reports_them_all_and_keeps_what_was_typed(client, admin_user):
    client.force_login(admin_user)
    typed = {**S3_FORM, "name": "Bad_Name", "buckets": "models BAD!", "endpoint_url": "not-a-url"}
    typed.pop("access_key_id")  # path_style unticked: a browser leaves it out

    page = client.post(PAGE, typed)

    form = read_form(page.content.decode())
    assert page.status_code == 400
    assert form.invalid == {"name", "buckets", "endpoint_url", "access_key_id"}
    assert form.values["secret_access_key"] == "typed-secret"  # no retyping of the secret
    assert form.values["name"] == "Bad_Name"
    assert form.values["buckets"] == "models BAD!"
    assert "path_style=on" not in form.checked
    assert "no-store" in page["Cache-Control"]  # the typed secret is not cached
    assert not StorageConnection.objects.exists()


def test_the_add_form_never_shows_a_secret_on_a_fresh_page(client, admin_user):
    client.force_login(admin_user)

    form = read_form(client.get(PAGE).content.decode())

    assert form.values["secret_access_key"] == ""
    assert "path_style=on" in form.checked
