"""Who may read and write every API resource (tests/permissions.py gives each class its tests), and
the walk of the URL resolver that fails while a route of the API has no permission case."""

from __future__ import annotations

import io
import uuid

import pytest
from django.urls import get_resolver, path
from rest_framework.response import Response
from rest_framework.views import APIView

from distributed_app.services import distributed_job_create
from mlplatform.compute.models import Workload
from mlplatform.core.models import ApiToken, Project, Role
from mlplatform.gcp.models import Operation
from mlplatform.storage.services import object_write, storage_connection_create
from mlplatform.storage.uris import parse_uri
from notebooks_app.services import notebook_create
from prediction_app.models import Model, Version
from tests.factories import UserFactory, job_row, quota
from tests.packages import uploaded
from tests.permissions import STAFF, ResourcePermissions, parametrize, read, routes_without_cases, write

PROJECT = "/api/projects/team-a/"
ML = "/v1/projects/team-a"
WORKBENCH = "/v2/projects/team-a/locations/{location}"
WORKLOAD = uuid.UUID("00000000-0000-4000-8000-000000000001")


def pytest_generate_tests(metafunc):
    parametrize(metafunc)


@pytest.fixture
def cpu_quota(project):
    return quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)


@pytest.fixture
def notebooks(project, member, cpu_quota):
    """`lab`, stopped, and `busy`, queued: what start, and stop or reset, act on."""
    owner = member(Role.EDITOR, "owner")
    notebook_create(project=project, owner=owner, name="lab", start=False)
    notebook_create(project=project, owner=owner, name="busy")
    return project


@pytest.fixture
def local_bucket(project, settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    uploaded(settings.STORAGE_LOCAL_ROOT / "demo")  # the trainer packages its jobs name
    return storage_connection_create(project=project, name="local", kind="local", buckets=["demo"])


@pytest.fixture
def prediction_models(project):
    """Model `iris` with versions `v1` (the default, its workload queued) and `v0` (no workload), and
    model `empty` without versions."""
    iris = Model.objects.create(project=project, name="iris")
    workload = Workload.objects.create(
        project=project, kind="service", name="iris-v1", spec=workload_spec("iris-v1")
    )
    v1 = Version.objects.create(model=iris, name="v1", workload=workload)
    Version.objects.create(model=iris, name="v0")
    iris.default_version = v1
    iris.save()
    Model.objects.create(project=project, name="empty")
    return project


def workload_spec(name: str) -> dict:
    resources = {"flavor": "cpu", "gpus": 0, "cpu": "1", "memory_gib": "2"}
    group = {
        "role": "worker",
        "count": 1,
        "image": "python:3.11",
        "command": ["true"],
        "resources": resources,
    }
    return {"name": name, "kind": "batch", "groups": [group]}


# --- the native API ---------------------------------------------------------------------------------


class TestProjects(ResourcePermissions):
    cases = (
        read(PROJECT),
        write("PATCH", PROJECT, {"display_name": "Team A, renamed"}, least=Role.ADMIN),
    )


class TestMembers(ResourcePermissions):
    cases = (
        read(f"{PROJECT}members/"),
        write(
            "POST", f"{PROJECT}members/", {"username": "newbie", "role": "viewer"}, least=Role.ADMIN, ok=201
        ),
        write("PATCH", f"{PROJECT}members/vera/", {"role": "editor"}, least=Role.ADMIN),
        write("DELETE", f"{PROJECT}members/vera/", least=Role.ADMIN, ok=204),
    )

    @pytest.fixture
    def given(self, project, member):
        UserFactory(username="newbie")
        member(Role.VIEWER, "vera")


class TestQuotas(ResourcePermissions):
    cases = (
        read(f"{PROJECT}quotas/"),
        write("PUT", f"{PROJECT}quotas/cpu/", {"nominal_cpu": "8", "nominal_memory_gib": "32"}, least=STAFF),
    )


class TestStorage(ResourcePermissions):
    connections = f"{PROJECT}storage/connections/"
    objects = f"{PROJECT}storage/objects"
    cases = (
        read(connections),
        write(
            "POST",
            connections,
            {"name": "more", "kind": "local", "buckets": ["more"]},
            least=Role.ADMIN,
            ok=201,
        ),
        write("DELETE", f"{connections}local/", least=Role.ADMIN, ok=204),
        write("POST", f"{connections}local/test/"),
        read(f"{objects}?uri=gs://demo/"),
        read(f"{objects}/content?uri=gs://demo/notes.txt"),
        write("PUT", f"{objects}?uri=gs://demo/new.txt", b"new bytes", ok=201),
        write("DELETE", f"{objects}?uri=gs://demo/notes.txt", ok=204),
        write("POST", f"{PROJECT}storage/folders?uri=gs://demo/outputs/", ok=201),
    )

    @pytest.fixture
    def given(self, project, local_bucket):
        object_write(project=project, uri=parse_uri("gs://demo/notes.txt"), stream=io.BytesIO(b"hi"), size=2)


class TestWorkloads(ResourcePermissions):
    workload = f"{PROJECT}workloads/{WORKLOAD}/"
    cases = (
        read(f"{PROJECT}workloads/"),
        write("POST", f"{PROJECT}workloads/", {"spec": workload_spec("another")}, ok=201),
        read(workload),
        read(f"{workload}logs/", ok=400),  # past the permission check: it has not started, so no log yet
        write("POST", f"{workload}cancel/"),
        read(f"{workload}utilisation/"),
        read(f"{PROJECT}queue/"),
        read(f"{PROJECT}usage/?period=7d"),
    )

    @pytest.fixture
    def given(self, project, cpu_quota):
        Workload.objects.create(
            id=WORKLOAD, project=project, kind="batch", name="sweep", spec=workload_spec("sweep")
        )


class TestDistributedJobs(ResourcePermissions):
    jobs = f"{PROJECT}distributed-jobs/"
    body = {"name": "fresh", "command": ["python", "train.py"], "workers": 2}
    cases = (
        read(jobs),
        write("POST", jobs, body, ok=201),
        read(f"{jobs}sweep/"),
        write("POST", f"{jobs}sweep/cancel/"),
    )

    @pytest.fixture
    def given(self, project, cpu_quota):
        distributed_job_create(project=project, body={**self.body, "name": "sweep"})


class TestNotebooks(ResourcePermissions):
    notebooks = f"{PROJECT}notebooks/"
    cases = (
        read(notebooks),
        write("POST", notebooks, {"name": "fresh", "start": False}, ok=201),
        read(f"{notebooks}lab/"),
        write("PATCH", f"{notebooks}lab/", {"home_size_gib": 20}),
        write("DELETE", f"{notebooks}lab/?confirm=true", ok=202),
        write("POST", f"{notebooks}lab/start/"),
        write("POST", f"{notebooks}busy/stop/"),
    )

    @pytest.fixture
    def given(self, notebooks):
        return notebooks


# --- the facades: ml v1 and notebooks v2 ------------------------------------------------------------


class TestTrainingJobs(ResourcePermissions):
    training_input = {
        "scaleTier": "BASIC",
        "packageUris": ["gs://demo/packages/trainer-0.1.tar.gz"],
        "pythonModule": "trainer.task",
        "region": "us-central1",
    }
    cases = (
        read(f"{ML}/jobs"),
        write("POST", f"{ML}/jobs", {"jobId": "fresh", "trainingInput": training_input}),
        read(f"{ML}/jobs/mnist_1"),
        write("PATCH", f"{ML}/jobs/mnist_1?updateMask=labels", {"labels": {"team": "vision"}}),
        write("POST", f"{ML}/jobs/mnist_1:cancel", {}),
    )

    @pytest.fixture
    def given(self, project, local_bucket, cpu_quota):
        job_row(project, "mnist_1")


class TestMlOperations(ResourcePermissions):
    cases = (
        read(f"{ML}:getConfig"),
        read(f"{ML}/locations"),
        read(f"{ML}/locations/{{location}}"),
        read(f"{ML}/operations"),
        read(f"{ML}/operations/operation-1"),
        write("POST", f"{ML}/operations/operation-1:cancel", {}),
        read(f"{ML}/locations/{{location}}/operations/operation-2"),
        write("POST", f"{ML}/locations/{{location}}/operations/operation-2:cancel", {}),
    )

    @pytest.fixture
    def given(self, project, settings):
        Operation.objects.create(id="operation-1", project=project, operation_type="CREATE_VERSION")
        location = settings.PLATFORM_LOCATIONS[0]
        Operation.objects.create(
            id="operation-2", project=project, location=location, operation_type="CREATE_VERSION"
        )


class TestWorkbench(ResourcePermissions):
    instances = f"{WORKBENCH}/instances"
    operation = f"{WORKBENCH}/operations/operation-1"
    cases = (
        read("/v2/projects/team-a/locations"),
        read(WORKBENCH),
        read(instances),
        write("POST", f"{instances}?instanceId=fresh", {}),
        read(f"{instances}/lab"),
        write("PATCH", f"{instances}/lab?updateMask=labels", {"labels": {"team": "vision"}}),
        write("DELETE", f"{instances}/lab"),
        write("POST", f"{instances}/lab:start", {}),
        write("POST", f"{instances}/busy:stop", {}),
        write("POST", f"{instances}/busy:reset", {}),
        read(f"{WORKBENCH}/operations"),
        read(operation),
        write("DELETE", operation),
        write("POST", f"{operation}:cancel", {}),
    )

    @pytest.fixture
    def given(self, notebooks, settings):
        location = settings.PLATFORM_LOCATIONS[0]
        target = f"projects/team-a/locations/{location}/instances/busy"
        Operation.objects.create(
            id="operation-1", project=notebooks, location=location, operation_type="stop", target=target
        )


class TestPredictionModels(ResourcePermissions):
    """Models and versions in the native API; predicting is for editors (ml.models.predict is the
    Developer's), and past the permission check `v1` answers 400 here: it does not run."""

    models = f"{PROJECT}models/"
    version = f"{PROJECT}models/iris/versions/v1/"
    cases = (
        read(models),
        write("POST", models, {"name": "fresh"}, ok=201),
        read(f"{models}iris/"),
        write("PATCH", f"{models}iris/?updateMask=description", {"description": "flowers"}),
        write("DELETE", f"{models}empty/"),
        read(f"{models}iris/versions/"),
        write("POST", f"{models}iris/versions/", {"name": "v2", "deploymentUri": "gs://nowhere/m/"}, ok=400),
        read(version),
        write("PATCH", f"{version}?updateMask=description", {"description": "first"}),
        write("DELETE", f"{PROJECT}models/iris/versions/v0/"),
        write("POST", f"{version}default/"),
        write("POST", f"{version}predict/", {"instances": [[1]]}, ok=400),
    )

    @pytest.fixture
    def given(self, prediction_models):
        return prediction_models


class TestPredictionFacade(ResourcePermissions):
    version = f"{ML}/models/iris/versions/v1"
    cases = (
        read(f"{ML}/models"),
        write("POST", f"{ML}/models", {"name": "fresh"}),
        read(f"{ML}/models/iris"),
        write("PATCH", f"{ML}/models/iris?updateMask=description", {"description": "flowers"}),
        write("DELETE", f"{ML}/models/empty"),
        read(f"{ML}/models/iris/versions"),
        write(
            "POST", f"{ML}/models/iris/versions", {"name": "v2", "deploymentUri": "gs://nowhere/m/"}, ok=400
        ),
        read(version),
        write("PATCH", f"{version}?updateMask=description", {"description": "first"}),
        write("DELETE", f"{ML}/models/iris/versions/v0"),
        write("POST", f"{version}:setDefault", {}),
        write("POST", f"{ML}/models/iris:predict", {"instances": [[1]]}, ok=400),
        write("POST", f"{version}:predict", {"instances": [[1]]}, ok=400),
    )

    @pytest.fixture
    def given(self, prediction_models):
        return prediction_models


# --- what no project scopes ---------------------------------------------------------------------------


def test_the_project_list_shows_the_callers_own_and_only_staff_create_projects(api, member, outsider, staff):
    member(Role.VIEWER, "vera")

    assert [p["slug"] for p in api(outsider).get("/api/projects/").json()] == []
    assert api(outsider).post("/api/projects/", {"slug": "mine"}, format="json").status_code == 403
    assert api(staff).post("/api/projects/", {"slug": "theirs"}, format="json").status_code == 201
    assert Project.objects.filter(slug="mine").exists() is False


def test_tokens_are_their_owners_alone(api, member, outsider):
    alice = api(member(Role.ADMIN, "alice"))
    created = alice.post("/api/tokens/", {"name": "laptop"}, format="json")
    token_id = created.json()["id"]

    assert created.status_code == 201
    assert "laptop" not in [t["name"] for t in api(outsider).get("/api/tokens/").json()]
    assert api(outsider).delete(f"/api/tokens/{token_id}/").status_code == 404
    assert ApiToken.objects.get(pk=token_id).revoked_at is None
    assert alice.delete(f"/api/tokens/{token_id}/").status_code == 204


def test_the_catalogs_are_for_anyone_signed_in(api, outsider):
    for catalog in ("/api/flavors/", "/api/notebook-images/"):
        assert api(outsider).get(catalog).status_code == 200
        assert api().get(catalog).status_code == 401


def test_only_platform_staff_see_every_projects_queue(api, member, staff):
    assert api(member(Role.ADMIN)).get("/api/queue/").status_code == 403
    assert api(staff).get("/api/queue/").status_code == 200


UNSCOPED = {  # routes no project scopes, and the test that says who may use them
    ("api/projects/", "get"): test_the_project_list_shows_the_callers_own_and_only_staff_create_projects,
    ("api/projects/", "post"): test_the_project_list_shows_the_callers_own_and_only_staff_create_projects,
    ("api/tokens/", "get"): test_tokens_are_their_owners_alone,
    ("api/tokens/", "post"): test_tokens_are_their_owners_alone,
    ("api/tokens/<int:token_id>/", "delete"): test_tokens_are_their_owners_alone,
    ("api/flavors/", "get"): test_the_catalogs_are_for_anyone_signed_in,
    ("api/notebook-images/", "get"): test_the_catalogs_are_for_anyone_signed_in,
    ("api/queue/", "get"): test_only_platform_staff_see_every_projects_queue,
}


# --- no route without its cases -------------------------------------------------------------------------


def test_every_route_of_the_api_and_the_facades_has_permission_cases():
    missing = routes_without_cases(ResourcePermissions.__subclasses__(), UNSCOPED)

    assert missing == [], "declare permission cases for these (tests/test_permissions.py)"


class WidgetApi(APIView):
    def get(self, request, project):
        return Response([])

    def post(self, request, project):
        return Response({})


def test_a_new_route_without_cases_fails_the_walk():
    patterns = [
        *get_resolver().url_patterns,
        path("api/projects/<str:project>/widgets/", WidgetApi.as_view()),
    ]

    missing = routes_without_cases(ResourcePermissions.__subclasses__(), UNSCOPED, patterns)

    assert missing == [
        ("api/projects/<str:project>/widgets/", "get"),
        ("api/projects/<str:project>/widgets/", "post"),
    ]
