"""The same behaviour from every storage driver: S3 (moto), GCS (the emulator) and local folders."""

from __future__ import annotations

import io
import json
import os
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mlplatform.storage.drivers import gcs as gcs_module
from mlplatform.storage.drivers.base import (
    CHUNK_SIZE,
    AccessDenied,
    BucketNotFound,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from mlplatform.storage.drivers.gcs import GcsDriver
from mlplatform.storage.drivers.local import LocalDriver
from mlplatform.storage.drivers.s3 import S3Driver
from tests.stores import S3_KEY_ID, S3_SECRET, aws_client, free_port, unique_bucket

MiB = 1024 * 1024


def put(driver, bucket, key, data: bytes, **kwargs):
    return driver.write(bucket, key, io.BytesIO(data), size=len(data), **kwargs)


def read(driver, bucket, key) -> bytes:
    return b"".join(driver.read(bucket, key))


def everything(driver, bucket, prefix="", page_size=1000) -> tuple[list[str], list[str]]:
    """(object keys, prefixes) over all pages."""
    keys, prefixes, token = [], [], None
    while True:
        page = driver.list(bucket, prefix, page_size=page_size, page_token=token)
        keys += [o.key for o in page.objects]
        prefixes += page.prefixes
        if not (token := page.next_page_token):
            return keys, prefixes


class Boom(Exception):
    """What a stream raises halfway (a client that went away)."""


class FailingStream:
    """Serves `fail_after` bytes in reads of at most 1 MiB, then raises Boom."""

    def __init__(self, fail_after: int):
        self.fail_after, self.served = fail_after, 0

    def read(self, size: int = -1) -> bytes:
        if self.served >= self.fail_after:
            raise Boom("the client went away")
        amount = min(MiB, self.fail_after - self.served, size if size >= 0 else MiB)
        self.served += amount
        return b"x" * amount


def test_write_then_stat_and_read(driver_and_bucket):
    driver, bucket = driver_and_bucket
    data = os.urandom(3000)

    written = put(driver, bucket, "models/v1/weights.bin", data, content_type="application/x-test")
    info = driver.stat(bucket, "models/v1/weights.bin")

    assert (written.key, written.size) == ("models/v1/weights.bin", 3000)
    assert (info.key, info.size) == ("models/v1/weights.bin", 3000)
    assert info.updated is not None
    assert read(driver, bucket, "models/v1/weights.bin") == data
    if not isinstance(driver, LocalDriver):  # local folders keep no content type
        assert info.content_type == "application/x-test"


def test_write_of_unknown_size_and_empty_objects(driver_and_bucket):
    driver, bucket = driver_and_bucket

    driver.write(bucket, "unsized", io.BytesIO(b"abc" * 1000))
    put(driver, bucket, "empty", b"")

    assert read(driver, bucket, "unsized") == b"abc" * 1000
    assert driver.stat(bucket, "empty").size == 0
    assert read(driver, bucket, "empty") == b""


def test_read_streams_in_chunks(driver_and_bucket):
    driver, bucket = driver_and_bucket
    data = os.urandom(2 * CHUNK_SIZE + 1234)
    put(driver, bucket, "big", data)

    chunks = list(driver.read(bucket, "big"))

    assert len(chunks) >= 3
    assert all(len(chunk) <= CHUNK_SIZE for chunk in chunks)
    assert b"".join(chunks) == data


def test_list_shows_objects_and_folders_under_a_prefix(driver_and_bucket):
    driver, bucket = driver_and_bucket
    for key in ["top.txt", "dir/a.txt", "dir/b.txt", "dir/sub/c.txt", "other/d.txt", "dirt.txt"]:
        put(driver, bucket, key, key.encode())

    root = driver.list(bucket, "")
    inside = driver.list(bucket, "dir/")
    starting = driver.list(bucket, "dir")

    assert [o.key for o in root.objects] == ["dirt.txt", "top.txt"]
    assert root.prefixes == ["dir/", "other/"]
    assert [(o.key, o.size) for o in inside.objects] == [("dir/a.txt", 9), ("dir/b.txt", 9)]
    assert inside.prefixes == ["dir/sub/"]
    assert ([o.key for o in starting.objects], starting.prefixes) == (["dirt.txt"], ["dir/"])
    assert driver.list(bucket, "nothing/").objects == []
    assert root.next_page_token is None


def test_folder_marker_lists_as_a_folder(driver_and_bucket):
    driver, bucket = driver_and_bucket

    put(driver, bucket, "outputs/", b"")

    assert driver.list(bucket, "").prefixes == ["outputs/"]
    assert driver.stat(bucket, "outputs/").size == 0


def test_pages_return_everything_once(driver_and_bucket):
    driver, bucket = driver_and_bucket
    keys = [f"p/{name}" for name in ["a", "b", "c", "d", "e"]]
    for key in [*keys, "p/x/1", "p/y/2"]:
        put(driver, bucket, key, b"1")

    pages, token = [], None
    while True:
        page = driver.list(bucket, "p/", page_size=2, page_token=token)
        pages.append([o.key for o in page.objects] + page.prefixes)
        if not (token := page.next_page_token):
            break

    seen = [entry for page in pages for entry in page]
    assert all(0 < len(page) <= 2 for page in pages)
    assert len(pages) == 4
    assert sorted(seen) == sorted([*keys, "p/x/", "p/y/"])  # each once


def test_overwrite_replaces(driver_and_bucket):
    driver, bucket = driver_and_bucket
    put(driver, bucket, "k", b"the old, longer content")

    put(driver, bucket, "k", b"new")

    assert read(driver, bucket, "k") == b"new"
    assert driver.stat(bucket, "k").size == 3


def test_copy(driver_and_bucket):
    driver, bucket = driver_and_bucket
    put(driver, bucket, "src/data.csv", b"a,b\n1,2\n")

    copied = driver.copy(bucket, "src/data.csv", bucket, "dst/data.csv")

    assert (copied.key, copied.size) == ("dst/data.csv", 8)
    assert read(driver, bucket, "dst/data.csv") == b"a,b\n1,2\n"
    assert read(driver, bucket, "src/data.csv") == b"a,b\n1,2\n"
    with pytest.raises(ObjectNotFound):
        driver.copy(bucket, "src/missing", bucket, "dst/missing")
    with pytest.raises(BucketNotFound):
        driver.copy(bucket, "src/data.csv", "no-such-bucket-here", "data.csv")


def test_delete(driver_and_bucket):
    driver, bucket = driver_and_bucket
    put(driver, bucket, "gone/soon", b"bye")

    driver.delete(bucket, "gone/soon")

    with pytest.raises(ObjectNotFound):
        driver.stat(bucket, "gone/soon")
    assert everything(driver, bucket, "gone/")[0] == []


def test_missing_object(driver_and_bucket):
    driver, bucket = driver_and_bucket

    with pytest.raises(ObjectNotFound):
        driver.stat(bucket, "nope")
    with pytest.raises(ObjectNotFound):
        driver.read(bucket, "nope")  # before streaming starts
    with pytest.raises(ObjectNotFound):
        driver.delete(bucket, "nope")


def test_missing_bucket(driver_and_bucket):
    driver, bucket = driver_and_bucket

    driver.check_bucket(bucket)
    with pytest.raises(BucketNotFound):
        driver.check_bucket("no-such-bucket-here")
    with pytest.raises(BucketNotFound):
        driver.list("no-such-bucket-here")


@pytest.mark.parametrize(
    ("size", "fail_after"),
    [(12 * MiB, 9 * MiB), (4 * MiB, 2 * MiB)],
    ids=["multipart-or-resumable", "single-request"],
)
def test_a_stream_failing_midway_leaves_nothing(driver_and_bucket, size, fail_after):
    """Over 8 MiB, the failure comes after boto3 has begun a multipart upload and GCS a resumable one
    (its first 8 MiB chunk sent); below, before the single request is made."""
    driver, bucket = driver_and_bucket
    put(driver, bucket, "kept", b"old version")

    for key in ["fresh", "kept"]:
        with pytest.raises(Boom):
            driver.write(bucket, key, FailingStream(fail_after), size=size)

    with pytest.raises(ObjectNotFound):
        driver.stat(bucket, "fresh")
    assert read(driver, bucket, "kept") == b"old version"
    assert everything(driver, bucket) == (["kept"], [])
    if isinstance(driver, S3Driver):  # the multipart upload was aborted, not left to linger
        assert driver._client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    if isinstance(driver, LocalDriver):  # no temporary file either
        assert sorted(os.listdir(driver.root / bucket)) == ["kept"]
    # GCS: an unfinished resumable upload is no object; the emulator shows no sessions to check.


@pytest.mark.parametrize("size", [12 * MiB, 100], ids=["multipart-or-resumable", "single-request"])
def test_a_stream_shorter_than_its_size_leaves_nothing(driver_and_bucket, size):
    driver, bucket = driver_and_bucket

    with pytest.raises(StorageError, match="ended after"):
        driver.write(bucket, "short", io.BytesIO(b"y" * (size * 3 // 4)), size=size)

    with pytest.raises(ObjectNotFound):
        driver.stat(bucket, "short")
    assert everything(driver, bucket) == ([], [])


def test_download_url(driver_and_bucket):
    driver, bucket = driver_and_bucket
    put(driver, bucket, "shared/report.txt", b"for your eyes")

    url = driver.download_url(bucket, "shared/report.txt", expires_in=60)

    if isinstance(driver, S3Driver):
        assert "X-Amz-Signature=" in url
        assert S3_SECRET not in url
        with urllib.request.urlopen(url) as response:
            assert response.read() == b"for your eyes"
    else:  # local folders have no URLs; GCS signs only with a service account's key
        assert url is None


def test_gcs_signed_url_with_a_service_account(gcs_endpoint, gcs_bucket_factory):
    """Signing is local (no token is fetched); the emulator serves signed URLs without checking them."""
    bucket = gcs_bucket_factory(unique_bucket())
    GcsDriver(endpoint_url=gcs_endpoint, service_account_info=None).write(
        bucket, "a b/c.txt", io.BytesIO(b"signed"), size=6
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "test",
        "private_key_id": "1",
        "private_key": pem,
        "client_email": "robot@test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }

    url = GcsDriver(endpoint_url=gcs_endpoint, service_account_info=info).download_url(bucket, "a b/c.txt")

    assert url.startswith(f"{gcs_endpoint}/{bucket}/a%20b/c.txt?")
    assert "X-Goog-Signature=" in url
    assert "BEGIN PRIVATE KEY" not in url
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"signed"


# Local folders: nothing outside the bucket is reachable.

BAD_KEYS = ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/./b", "..", "a\x00b"]


@pytest.fixture
def local(tmp_path) -> tuple[LocalDriver, str]:
    driver = LocalDriver(root=tmp_path / "buckets")
    driver.create_bucket("bucket")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"secret")
    return driver, "bucket"


@pytest.mark.parametrize("key", BAD_KEYS)
def test_local_refuses_keys_that_leave_the_bucket(local, tmp_path, key):
    driver, bucket = local

    for attempt in [
        lambda: driver.stat(bucket, key),
        lambda: driver.read(bucket, key),
        lambda: driver.delete(bucket, key),
        lambda: put(driver, bucket, key, b"x"),
        lambda: driver.copy(bucket, key, bucket, "copy"),
        lambda: driver.list(bucket, key + "/"),
    ]:
        with pytest.raises(AccessDenied):
            attempt()
    assert sorted(os.listdir(tmp_path)) == ["buckets", "outside"]
    assert os.listdir(tmp_path / "buckets" / bucket) == []


def test_local_refuses_symlinks(local, tmp_path):
    driver, bucket = local
    folder = tmp_path / "buckets" / bucket
    (folder / "linked-dir").symlink_to(tmp_path / "outside")
    (folder / "linked-file").symlink_to(tmp_path / "outside" / "secret")
    (folder / "real").mkdir()
    (folder / "real" / "link").symlink_to("../linked-dir")

    for key in ["linked-dir/secret", "linked-file", "real/link/secret"]:
        with pytest.raises(AccessDenied):
            driver.read(bucket, key)
        with pytest.raises(AccessDenied):
            driver.stat(bucket, key)
        with pytest.raises(AccessDenied):
            driver.delete(bucket, key)
        with pytest.raises(AccessDenied):
            put(driver, bucket, key, b"overwritten")
    with pytest.raises(AccessDenied):
        put(driver, bucket, "linked-dir/new", b"planted")
    with pytest.raises(AccessDenied):
        driver.list(bucket, "linked-dir/")

    assert driver.list(bucket, "").prefixes == ["real/"]  # symlinks are not listed
    assert driver.list(bucket, "real/").prefixes == []
    assert sorted(os.listdir(tmp_path / "outside")) == ["secret"]
    assert (tmp_path / "outside" / "secret").read_bytes() == b"secret"


def test_local_refuses_a_symlinked_bucket_and_reserved_names(local, tmp_path):
    driver, bucket = local
    (tmp_path / "buckets" / "linked").symlink_to(tmp_path / "outside")

    with pytest.raises(AccessDenied):
        driver.check_bucket("linked")
    with pytest.raises(AccessDenied):
        driver.check_bucket("..")
    with pytest.raises(AccessDenied):
        put(driver, bucket, ".upload-1234", b"x")


def test_local_bucket_must_be_a_folder(tmp_path):
    driver = LocalDriver(root=tmp_path)
    (tmp_path / "file").write_bytes(b"")

    with pytest.raises(BucketNotFound):
        driver.check_bucket("file")
    with pytest.raises(BucketNotFound):
        driver.check_bucket("missing")


# S3 credentials. moto checks signatures only once told to; the setting is global to this process,
# so it is switched on for one test at a time and back off after (tests in a process run one by one).


@pytest.fixture
def s3_checking_credentials(s3_endpoint, s3_bucket_factory):
    """(key id, secret, bucket): an IAM user allowed s3:* and a bucket, with moto checking every
    request's credentials from then on."""
    bucket = s3_bucket_factory(unique_bucket())
    iam = aws_client(s3_endpoint, "iam")
    user = f"user-{unique_bucket()}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="s3",
        PolicyDocument='{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    before = _set_moto_auth(s3_endpoint, "0")  # check from the next request on
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"], bucket
    finally:
        _set_moto_auth(s3_endpoint, before)


def _set_moto_auth(endpoint: str, initial_no_auth_action_count: str) -> str:
    """Set how many requests moto lets through unchecked; returns the setting it replaces."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=initial_no_auth_action_count.encode(),
        headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]


def test_s3_wrong_credentials_are_access_denied(s3_endpoint, s3_checking_credentials):
    key_id, secret, bucket = s3_checking_credentials

    def driver(key_id, secret):
        return S3Driver(
            endpoint_url=s3_endpoint, region="us-east-1", access_key_id=key_id, secret_access_key=secret
        )

    good = driver(key_id, secret)
    good.check_bucket(bucket)
    put(good, bucket, "k", b"v")
    for bad in [driver(key_id, "not-the-secret-123"), driver("AKIAUNKNOWNUNKNOWN00", secret)]:
        for attempt in _everything_on(bad, bucket):
            with pytest.raises(AccessDenied) as refused:
                attempt()
            assert bucket in str(refused.value)
            assert secret not in str(refused.value)
            assert "not-the-secret" not in str(refused.value)


def _everything_on(driver, bucket) -> list:
    return [
        lambda: driver.check_bucket(bucket),
        lambda: driver.stat(bucket, "k"),
        lambda: driver.read(bucket, "k"),
        lambda: driver.list(bucket),
        lambda: put(driver, bucket, "k2", b"v"),
    ]


# GCS credentials: the emulator accepts any (or none), so refused credentials cannot be shown with it.


def test_unreachable_stores_are_unavailable(monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setattr(gcs_module, "RETRY", None)  # fail at once rather than retrying for seconds
    drivers = [
        S3Driver(
            endpoint_url=f"http://127.0.0.1:{port}",
            region=None,
            access_key_id=S3_KEY_ID,
            secret_access_key=S3_SECRET,
        ),
        GcsDriver(endpoint_url=f"http://127.0.0.1:{port}", service_account_info=None),
    ]
    for driver in drivers:
        with pytest.raises(StorageUnavailable) as unavailable:
            driver.check_bucket("bucket")
        assert S3_SECRET not in str(unavailable.value)
        with pytest.raises(StorageUnavailable):
            driver.stat("bucket", "key")
