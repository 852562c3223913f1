"""Storage through the native API: connections, objects on all three stores, access and bad input."""

import logging

import pytest

from mlplatform.core.models import Role
from mlplatform.storage.models import StorageConnection
from mlplatform.storage.services import storage_connection_create
from mlplatform.storage.wiring import workload_storage
from tests.factories import MembershipFactory, ProjectFactory

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def local_bucket(project, settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    return storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )


def _objects(client, uri):
    return client.get("/api/projects/team-a/storage/objects", {"uri": uri})


def _put(client, uri, body: bytes, content_type="application/octet-stream"):
    return client.generic(
        "PUT", f"/api/projects/team-a/storage/objects?uri={uri}", body, content_type=content_type
    )


def _download(client, uri):
    return client.get("/api/projects/team-a/storage/objects/content", {"uri": uri})


def test_local_bucket_serves_gs_uris_end_to_end(api, member, local_bucket):
    client = api(member(Role.EDITOR))

    uploaded = _put(client, "gs://demo/packages/trainer-0.1.tar.gz", b"package bytes")
    folder = client.post("/api/projects/team-a/storage/folders?uri=gs://demo/outputs/")
    listing = _objects(client, "gs://demo/").json()
    inside = _objects(client, "gs://demo/packages/").json()
    download = client.get(
        "/api/projects/team-a/storage/objects/content", {"uri": "gs://demo/packages/trainer-0.1.tar.gz"}
    )

    assert uploaded.status_code == 201
    assert uploaded.json()["size"] == len(b"package bytes")
    assert folder.status_code == 201
    assert {f["name"] for f in listing["folders"]} == {"packages", "outputs"}
    assert [o["name"] for o in inside["objects"]] == ["trainer-0.1.tar.gz"]
    assert b"".join(download.streaming_content) == b"package bytes"
    assert download["Content-Disposition"] == 'attachment; filename="trainer-0.1.tar.gz"'
    assert (local_bucket_path := local_bucket.buckets[0]) == "demo"
    assert (
        client.delete(
            "/api/projects/team-a/storage/objects?uri=gs://demo/packages/trainer-0.1.tar.gz"
        ).status_code
        == 204
    )
    assert _objects(client, "gs://demo/packages/").json()["objects"] == []
    assert local_bucket_path


def test_admin_adds_an_s3_connection_tests_it_and_uses_it(api, admin_user, s3_endpoint, s3_bucket_factory):
    s3_bucket_factory("team-a-models")
    client = api(admin_user)

    created = client.post(
        "/api/projects/team-a/storage/connections/",
        {
            "name": "ceph",
            "kind": "s3",
            "buckets": ["team-a-models"],
            "endpoint_url": s3_endpoint,
            "region": "us-east-1",
            "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": SECRET,
        },
        format="json",
    )
    checks = client.post("/api/projects/team-a/storage/connections/ceph/test/").json()
    uploaded = _put(client, "s3://team-a-models/iris/model.joblib", b"\x80model")
    content = client.get(
        "/api/projects/team-a/storage/objects/content", {"uri": "s3://team-a-models/iris/model.joblib"}
    )

    assert created.status_code == 201, created.json()
    assert created.json()["has_credentials"] is True
    assert [c["ok"] for c in checks] == [True, True, True, True]
    assert [c["name"] for c in checks] == [f"team-a-models: {s}" for s in ("list", "write", "read", "delete")]
    assert uploaded.status_code == 201
    assert b"".join(content.streaming_content) == b"\x80model"
    # the probe objects of the test are gone
    assert _objects(client, "s3://team-a-models/").json()["folders"] == [
        {"name": "iris", "uri": "s3://team-a-models/iris/"}
    ]


def test_gcs_connection_through_an_emulator(api, admin_user, gcs_endpoint, gcs_bucket_factory):
    gcs_bucket_factory("team-a-data")
    client = api(admin_user)

    created = client.post(
        "/api/projects/team-a/storage/connections/",
        {"name": "gcs", "kind": "gcs", "buckets": ["team-a-data"], "endpoint_url": gcs_endpoint},
        format="json",
    )
    uploaded = _put(client, "gs://team-a-data/train.csv", b"a,b\n1,2\n", content_type="text/csv")
    listing = _objects(client, "gs://team-a-data/").json()

    assert created.status_code == 201, created.json()
    assert uploaded.status_code == 201
    assert [(o["name"], o["size"]) for o in listing["objects"]] == [("train.csv", 8)]


def test_another_project_cannot_reach_the_bucket(api, local_bucket, member):
    editor = member(Role.EDITOR)
    _put(api(editor), "gs://demo/secret.txt", b"team a only")
    other = ProjectFactory(slug="team-b")
    MembershipFactory(project=other, user=editor, role=Role.ADMIN)

    response = api(editor).get(
        "/api/projects/team-b/storage/objects/content", {"uri": "gs://demo/secret.txt"}
    )
    claim = api(editor).post(
        "/api/projects/team-b/storage/connections/",
        {"name": "steal", "kind": "local", "buckets": ["demo"]},
        format="json",
    )

    assert response.status_code == 403
    assert "Bucket 'demo'" in response.json()["uri"][0]
    assert claim.status_code == 409
    assert "demo" in claim.json()["buckets"][0]


def test_non_members_get_404_and_viewers_cannot_write(api, local_bucket, outsider, member):
    viewer = api(member(Role.VIEWER))

    assert _objects(api(outsider), "gs://demo/").status_code == 404
    assert _objects(viewer, "gs://demo/").status_code == 200
    assert _put(viewer, "gs://demo/x.txt", b"x").status_code == 403
    assert (
        viewer.post(
            "/api/projects/team-a/storage/connections/",
            {"name": "n", "kind": "local", "buckets": ["n1"]},
            format="json",
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("uri", "status", "reason"),
    [
        ("demo/no-scheme", 400, "not an object URI"),
        ("ftp://demo/x", 400, "not supported"),
        ("gs://Bad_Bucket!/x", 400, "not a valid bucket"),
        ("gs://demo/../etc/passwd", 400, "'..'"),
        ("gs://demo/a//b", 400, "empty segments"),
        ("gs://demo//etc/passwd", 400, "empty segments"),
        ("gs://demo/x\n", 400, "no CR, LF"),
        ("gs://demo/a\r\nSet-Cookie: x", 400, "no CR, LF"),
        ("gs://demo\n", 400, "not a valid bucket"),
        ("gs://unknown-bucket/x", 403, "Bucket 'unknown-bucket'"),
        ("gs://demo/missing.bin", 404, "was not found"),
    ],
)
def test_bad_uris_get_a_reason(api, member, local_bucket, uri, status, reason):
    response = api(member(Role.EDITOR)).get("/api/projects/team-a/storage/objects/content", {"uri": uri})

    assert response.status_code == status
    assert reason in str(response.json())


def test_uploads_over_the_limit_are_413_and_leave_nothing(api, member, local_bucket, settings):
    settings.STORAGE_UPLOAD_MAX_BYTES = 1000
    client = api(member(Role.EDITOR))

    response = _put(client, "gs://demo/big.bin", b"x" * 1001)

    assert response.status_code == 413
    assert "1,000 bytes" in response.json()["body"][0]
    assert _objects(client, "gs://demo/").json()["objects"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "s3", "kind": "s3", "buckets": ["b1x"]}, "access_key_id"),
        (
            {"name": "g", "kind": "gcs", "buckets": ["b1x"], "service_account_json": '{"type": "user"}'},
            "service_account_json",
        ),
        ({"name": "Bad Name", "kind": "local", "buckets": ["b1x"]}, "name"),
        ({"name": "l", "kind": "local", "buckets": ["B!"]}, "buckets"),
        ({"name": "l", "kind": "local", "buckets": ["b1x"], "default_bucket": "other"}, "default_bucket"),
        ({"name": "l", "kind": "nfs", "buckets": ["b1x"]}, "kind"),
    ],
)
def test_bad_connections_name_the_field(api, admin_user, body, field, settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path

    response = api(admin_user).post("/api/projects/team-a/storage/connections/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not StorageConnection.objects.exists()


def test_credentials_never_leave_the_console(api, admin_user, s3_endpoint, s3_bucket_factory, caplog, client):
    caplog.set_level(logging.DEBUG)
    s3_bucket_factory("leak-check")
    rest = api(admin_user)
    rest.post(
        "/api/projects/team-a/storage/connections/",
        {
            "name": "s3",
            "kind": "s3",
            "buckets": ["leak-check"],
            "endpoint_url": s3_endpoint,
            "access_key_id": "AKIALEAKCHECK",
            "secret_access_key": SECRET,
        },
        format="json",
    )
    client.force_login(admin_user)

    bodies = [
        rest.get("/api/projects/team-a/storage/connections/").content,
        rest.post("/api/projects/team-a/storage/connections/s3/test/").content,
        rest.get("/api/schema/").content,
        client.get("/projects/team-a/storage/").content,
        client.post("/projects/team-a/storage/connections/s3/test/").content,
    ]
    connection = StorageConnection.objects.get(name="s3")

    for body in bodies:
        assert SECRET.encode() not in body
    assert SECRET not in caplog.text
    assert SECRET.encode() not in bytes(connection.encrypted_credentials)
    assert connection.credentials["secret_access_key"] == SECRET  # decrypts for the drivers


def test_workloads_get_secrets_apart_from_plain_environment(project, s3_endpoint, settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path
    storage_connection_create(
        project=project,
        name="ceph",
        kind="s3",
        buckets=["models"],
        endpoint_url=s3_endpoint,
        region="eu-1",
        credentials={"access_key_id": "AKIA1", "secret_access_key": SECRET},
        make_default=True,
    )
    key = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----", "client_email": "a@b"}'
    storage_connection_create(
        project=project, name="gcs", kind="gcs", buckets=["data"], credentials={"service_account_json": key}
    )

    wiring = workload_storage(project=project, credentials_dir="/creds")

    assert wiring.secret_env == {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": SECRET}
    assert wiring.env["AWS_ENDPOINT_URL"] == s3_endpoint
    assert wiring.env["GOOGLE_APPLICATION_CREDENTIALS"] == "/creds/gcs-gcs.json"
    assert wiring.env["MLPLATFORM_DEFAULT_BUCKET"] == "s3://models/"
    assert SECRET not in str(wiring.env)
    assert "private_key" in wiring.files["gcs-gcs.json"]
    assert "[ceph]" in wiring.files["aws-credentials"]


def test_a_download_names_its_file_in_a_header_that_quotes_and_encodes_the_name(api, member, local_bucket):
    client = api(member(Role.EDITOR))
    _put(client, "gs://demo/r%C3%A9sum%C3%A9%20%22final%22.txt", b"cv")
    _put(client, "gs://demo/say%20%22hi%22.txt", b"hi")

    encoded = client.get(
        "/api/projects/team-a/storage/objects/content", {"uri": 'gs://demo/résumé "final".txt'}
    )
    quoted = client.get("/api/projects/team-a/storage/objects/content", {"uri": 'gs://demo/say "hi".txt'})

    assert encoded["Content-Disposition"] == "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20%22final%22.txt"
    assert quoted["Content-Disposition"] == 'attachment; filename="say \\"hi\\".txt"'


def test_names_a_local_bucket_cannot_hold_are_refused_with_the_reason(api, member, local_bucket):
    client = api(member(Role.EDITOR))
    _put(client, "gs://demo/model.bin", b"weights")

    too_long = _put(client, f"gs://demo/{'x' * 300}", b"data")
    read_too_long = client.get(
        "/api/projects/team-a/storage/objects/content", {"uri": f"gs://demo/{'x' * 300}"}
    )
    under_an_object = _put(client, "gs://demo/model.bin/inner", b"data")

    assert too_long.status_code == 400
    assert "255 bytes" in str(too_long.json())
    assert read_too_long.status_code == 400
    assert under_an_object.status_code == 400
    assert "not a folder" in str(under_an_object.json())
    assert [o["name"] for o in _objects(client, "gs://demo/").json()["objects"]] == ["model.bin"]
