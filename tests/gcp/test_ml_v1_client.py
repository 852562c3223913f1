"""The `ml v1` facade driven by the real googleapiclient against a live console."""

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from mlplatform.core.models import Role
from mlplatform.gcp.models import Operation
from mlplatform.gcp.services import operation_create, operation_finish
from tests.factories import job_row, quota

# A live server needs committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def _error(exc: HttpError) -> dict:
    return json.loads(exc.content)["error"]


@pytest.fixture
def ml(google_api, admin_user):
    return google_api(admin_user)


def test_get_config_names_the_project_identity(ml, project):
    config = ml.projects().getConfig(name="projects/team-a").execute()

    assert config["serviceAccount"].startswith("workloads@team-a")
    assert config["serviceAccountProject"] == str(project.pk)


def test_jobs_list_is_empty_for_a_new_project(ml, project):
    assert ml.projects().jobs().list(parent="projects/team-a").execute() == {"jobs": []}


def test_jobs_list_pages_newest_first_and_filters(ml, project):
    for i in range(5):
        state = "RUNNING" if i == 4 else "QUEUED"
        job_row(project, f"job_{i}", state=state, labels={"team": "nlp" if i % 2 else "cv"})
    jobs = ml.projects().jobs()

    first = jobs.list(parent="projects/team-a", pageSize=2).execute()
    second = jobs.list(parent="projects/team-a", pageSize=2, pageToken=first["nextPageToken"]).execute()
    rest = jobs.list(parent="projects/team-a", pageSize=2, pageToken=second["nextPageToken"]).execute()
    nlp = jobs.list(parent="projects/team-a", filter="labels.team=nlp").execute()
    running = jobs.list(parent="projects/team-a", filter='state="RUNNING"').execute()

    pages = [[j["jobId"] for j in page["jobs"]] for page in (first, second, rest)]
    assert pages == [["job_4", "job_3"], ["job_2", "job_1"], ["job_0"]]
    assert "nextPageToken" not in rest
    assert {j["jobId"] for j in nlp["jobs"]} == {"job_1", "job_3"}
    assert [j["jobId"] for j in running["jobs"]] == ["job_4"]
    assert first["jobs"][0]["createTime"].endswith("Z")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageToken": "not-a-token"}, "pageToken"),
        ({"filter": "colour=red"}, "filter"),
        ({"filter": "state=SLEEPING"}, "filter"),
        ({"filter": "state="}, "filter"),
    ],
)
def test_bad_list_parameters_are_invalid_argument_naming_the_field(ml, project, params, field):
    with pytest.raises(HttpError) as caught:
        ml.projects().jobs().list(parent="projects/team-a", **params).execute()

    error = _error(caught.value)
    assert (caught.value.resp.status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["fieldViolations"][0]["field"] == field


def test_page_tokens_do_not_carry_over_to_another_filter(ml, project):
    for i in range(3):
        job_row(project, f"j{i}")
    token = ml.projects().jobs().list(parent="projects/team-a", pageSize=1).execute()["nextPageToken"]

    with pytest.raises(HttpError) as caught:
        ml.projects().jobs().list(
            parent="projects/team-a", pageSize=1, pageToken=token, filter="state=QUEUED"
        ).execute()

    assert caught.value.resp.status == 400


def test_non_members_get_not_found_in_google_shape(google_api, project, outsider):
    ml = google_api(outsider)

    for call in (
        ml.projects().jobs().list(parent="projects/team-a"),
        ml.projects().getConfig(name="projects/team-a"),
        ml.projects().locations().list(parent="projects/team-a"),
        ml.projects().operations().list(name="projects/team-a"),
    ):
        with pytest.raises(HttpError) as caught:
            call.execute()
        assert caught.value.resp.status == 404
        assert _error(caught.value) == {
            "code": 404,
            "message": "Project 'team-a' was not found.",
            "status": "NOT_FOUND",
        }


def test_bad_tokens_are_unauthenticated(google_api, live_server, project, admin_user):
    ml = google_api(admin_user, token="mlp_not-a-real-token")

    # googleapiclient answers a 401 by trying to refresh the token, which a bare token cannot do
    with pytest.raises(RefreshError):
        ml.projects().jobs().list(parent="projects/team-a").execute()
    response = requests.get(
        f"{live_server.url}/v1/projects/team-a/jobs?alt=json",
        headers={"Authorization": "Bearer mlp_not-a-real-token"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": 401,
        "message": "Invalid API token.",
        "status": "UNAUTHENTICATED",
    }


def test_locations_name_the_accelerators_the_project_can_use(ml, project):
    quota(project, "nvidia-a100-80gb", nominal_gpus=4)
    quota(project, "nvidia-tesla-t4", nominal_gpus=0)

    listed = ml.projects().locations().list(parent="projects/team-a").execute()
    local = ml.projects().locations().get(name="projects/team-a/locations/local").execute()

    assert [loc["name"] for loc in listed["locations"]] == ["projects/team-a/locations/local"]
    capabilities = {c["type"]: c["availableAccelerators"] for c in local["capabilities"]}
    assert capabilities["TRAINING"] == ["NVIDIA_A100_80GB"]
    with pytest.raises(HttpError) as caught:
        ml.projects().locations().get(name="projects/team-a/locations/mars").execute()
    assert caught.value.resp.status == 404


def test_operations_are_listed_got_and_cancelled(ml, project, member, google_api):
    running = operation_create(
        project=project, operation_type="CREATE_VERSION", target="models/m/versions/v1"
    )
    finished = operation_create(project=project, operation_type="DELETE_MODEL")
    operation_finish(
        operation_id=finished.pk, response={"@type": "type.googleapis.com/google.protobuf.Empty"}
    )
    ops = ml.projects().operations()

    listed = ops.list(name="projects/team-a").execute()
    pending = ops.list(name="projects/team-a", filter="done=false").execute()
    got = ops.get(name=f"projects/team-a/operations/{running.pk}").execute()
    with pytest.raises(HttpError) as viewer_cancel:
        google_api(member(Role.VIEWER)).projects().operations().cancel(name=running.name).execute()
    ops.cancel(name=running.name).execute()
    with pytest.raises(HttpError) as again:
        ops.cancel(name=running.name).execute()

    assert {op["name"] for op in listed["operations"]} == {running.name, finished.name}
    assert [op["name"] for op in pending["operations"]] == [running.name]
    assert (got["done"], got["metadata"]["operationType"]) == (False, "CREATE_VERSION")
    assert viewer_cancel.value.resp.status == 403
    cancelled = ops.get(name=running.name).execute()
    assert cancelled["done"] is True
    assert cancelled["error"]["code"] == 1
    assert cancelled["metadata"]["isCancellationRequested"] is True
    assert (again.value.resp.status, _error(again.value)["status"]) == (400, "FAILED_PRECONDITION")


def test_operation_of_another_project_is_not_found(ml, project, outsider):
    from tests.factories import ProjectFactory

    elsewhere = operation_create(project=ProjectFactory(slug="other"), operation_type="X")

    with pytest.raises(HttpError) as caught:
        ml.projects().operations().get(name=f"projects/team-a/operations/{elsewhere.pk}").execute()

    assert caught.value.resp.status == 404


def test_unknown_methods_answer_in_google_shape(live_server, token_for, admin_user):
    response = requests.get(
        f"{live_server.url}/v1/projects/team-a/nonsense",
        headers={"Authorization": f"Bearer {token_for(admin_user)}"},
        timeout=10,
    )

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_finished_operations_are_purged_after_30_days(db, project):
    from mlplatform.gcp.services import operations_purge

    old = operation_create(project=project, operation_type="X")
    operation_finish(operation_id=old.pk, response={})
    Operation.objects.filter(pk=old.pk).update(end_time=timezone.now() - timedelta(days=31))
    recent = operation_create(project=project, operation_type="Y")

    assert operations_purge() == 1
    assert list(Operation.objects.values_list("pk", flat=True)) == [recent.pk]


def test_a_list_whose_url_is_over_2048_characters_is_sent_as_post_and_served_as_the_get(ml, project):
    # googleapiclient turns a GET with a URL over 2,048 characters into a POST with
    # X-HTTP-Method-Override: GET and the query as a form body.
    job_row(project, "wanted", labels={"team": "nlp"})
    job_row(project, "other", labels={"team": "cv"})
    long_filter = " OR ".join(["labels.team=nlp"] + [f"labels.team=t{i:03d}" for i in range(150)])
    request = ml.projects().jobs().list(parent="projects/team-a", filter=long_filter)
    assert len(request.uri) > 2048

    listed = request.execute()

    assert [job["jobId"] for job in listed["jobs"]] == ["wanted"]


def test_an_override_never_makes_a_post_into_anything_but_a_get(live_server, token_for, admin_user, project):
    response = requests.post(
        f"{live_server.url}/v1/projects/team-a/jobs",
        data={"jobId": "j"},
        headers={"Authorization": f"Bearer {token_for(admin_user)}", "X-HTTP-Method-Override": "DELETE"},
        timeout=10,
    )

    assert response.status_code == 415  # a POST still, and not one with JSON
