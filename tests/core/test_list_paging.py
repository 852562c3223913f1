"""The console's lists come in pages with a name search: jobs, MPI jobs, notebooks, models, and a
bucket's objects (120 objects in moto's S3 server are three pages of 50, not one page)."""

from __future__ import annotations

import re

import pytest

from distributed_app.models import DistributedJob
from mlplatform.compute.models import Workload
from mlplatform.core.paging import PER_PAGE
from mlplatform.storage.services import storage_connection_create
from prediction_app.models import Model
from tests.factories import job_row
from tests.stores import S3_KEY_ID, S3_SECRET, aws_client


def names(html: str, attribute: str) -> list[str]:
    return re.findall(rf'{attribute}="([^"]+)"', html)


@pytest.fixture
def viewer(client, member):
    client.force_login(member(role="viewer"))
    return client


def test_thirty_jobs_are_two_pages_and_the_search_narrows_them(viewer, project):
    for i in range(30):
        job_row(project, f"job_{i:02d}", state="SUCCEEDED")
    job_row(project, "resnet_tuned", state="SUCCEEDED")

    first = viewer.get("/projects/team-a/training/").content.decode()
    second = viewer.get("/projects/team-a/training/", {"page": 2}).content.decode()
    found = viewer.get("/projects/team-a/training/", {"q": "RESNET"}).content.decode()

    assert len(names(first, "data-job")) == PER_PAGE
    assert "1\N{EN DASH}25 of 31" in first
    assert 'rel="next"' in first
    assert len(names(second, "data-job")) == 31 - PER_PAGE
    assert set(names(first, "data-job")).isdisjoint(names(second, "data-job"))
    assert names(found, "data-job") == ["resnet_tuned"]
    assert 'value="RESNET"' in found  # the search box keeps what was typed


def test_a_page_link_keeps_the_state_filter_and_the_search(viewer, project):
    for i in range(PER_PAGE + 2):
        job_row(project, f"bert_{i:02d}", state="FAILED")
    job_row(project, "bert_ok", state="SUCCEEDED")

    html = viewer.get("/projects/team-a/training/", {"state": "FAILED", "q": "bert"}).content.decode()
    following = re.search(r'href="\?([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    page_two = viewer.get(f"/projects/team-a/training/?{following}").content.decode()

    assert sorted(following.split("&")) == ["page=2", "q=bert", "state=FAILED"]
    assert len(names(page_two, "data-job")) == 2
    assert "bert_ok" not in page_two


def test_a_page_past_the_end_shows_the_last_one(viewer, project):
    for i in range(PER_PAGE + 1):
        job_row(project, f"job_{i:02d}")

    html = viewer.get("/projects/team-a/training/", {"page": 99}).content.decode()

    assert len(names(html, "data-job")) == 1
    assert "Page 2 of 2" in html


def test_mpi_jobs_and_models_are_searched_by_name(viewer, project):
    for name in ("allreduce", "allgather", "bcast"):
        workload = Workload.objects.create(project=project, kind="batch", name=name, spec={"groups": []})
        DistributedJob.objects.create(project=project, name=name, workload=workload, input={"workers": 2})
    for name in ("iris", "census"):
        Model.objects.create(project=project, name=name)

    mpi = viewer.get("/projects/team-a/distributed/", {"q": "all"}).content.decode()
    models = viewer.get("/projects/team-a/prediction/", {"q": "cen"}).content.decode()

    assert ("allreduce" in mpi, "allgather" in mpi, "bcast" in mpi) == (True, True, False)
    assert names(models, "data-model") == ["census"]


def test_a_bucket_of_120_objects_is_browsed_in_pages_and_searched_by_prefix(
    viewer, project, s3_endpoint, s3_bucket_factory
):
    bucket = s3_bucket_factory("team-a-pages")
    s3 = aws_client(s3_endpoint)
    for i in range(120):
        s3.put_object(Bucket=bucket, Key=f"shards/part-{i:03d}.csv", Body=b"x")
    storage_connection_create(
        project=project,
        name="ceph",
        kind="s3",
        buckets=[bucket],
        endpoint_url=s3_endpoint,
        region="us-east-1",
        credentials={"access_key_id": S3_KEY_ID, "secret_access_key": S3_SECRET},
    )
    uri = f"s3://{bucket}/shards/"

    pages, url = [], f"/projects/team-a/storage/browse/?uri={uri}"
    while url:
        html = viewer.get(url).content.decode()
        pages.append(re.findall(r"part-\d{3}\.csv", html.split("<tbody>")[1]))
        following = re.search(r'href="(\?[^"]+)" rel="next"', html)
        url = (
            f"/projects/team-a/storage/browse/{following.group(1)}".replace("&amp;", "&") if following else ""
        )
    found = viewer.get("/projects/team-a/storage/browse/", {"uri": uri, "q": "part-11"}).content.decode()

    assert [len(set(page)) for page in pages] == [50, 50, 20]
    assert sorted(set().union(*pages)) == [f"part-{i:03d}.csv" for i in range(120)]
    assert 'rel="first"' in html  # the last page leads back to the first
    assert sorted(set(re.findall(r"part-\d{3}\.csv", found.split("<tbody>")[1]))) == [
        f"part-{i}.csv" for i in range(110, 120)
    ]
