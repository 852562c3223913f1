"""The native API keeps the promises of its OpenAPI document: schemathesis generates requests from
/api/schema/ and sends them to a live console on the test database, as an editor of `team-a` and as
an outsider, and fails on any 5xx, undeclared status, undeclared content type, body that does not
match its schema, or valid request refused. The Google facades (/v1, /v2) are not in the document:
their discovery documents are their contract (tests/gcp, tests/prediction)."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from mlplatform.compute.models import Workload
from mlplatform.core.models import Role
from mlplatform.quotas.models import Flavor
from mlplatform.storage.services import storage_connection_create
from notebooks_app.images import seed_images
from notebooks_app.models import NotebookImage
from notebooks_app.services import notebook_create
from prediction_app.models import Model
from tests.factories import MembershipFactory, UserFactory, quota
from tests.test_permissions import WORKLOAD, workload_spec

pytestmark = pytest.mark.xdist_group("openapi-contract")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Requests whose validity depends on rows, not on shape, answer 400 to most schema-valid data: a
# catalog image or flavor by name, a bucket of a storage connection, a Google body (the ml v1
# discovery document is its contract), an expiry in the future. Every other operation must accept
# what its schema says is valid.
SEMANTIC = (
    "POST /api/projects/{project}/models/",
    "POST /api/projects/{project}/models/{model}/versions/",
    "PATCH /api/projects/{project}/models/{model}/",
    "PATCH /api/projects/{project}/models/{model}/versions/{version}/",
    "POST /api/projects/{project}/notebooks/",
    "PATCH /api/projects/{project}/notebooks/{name}/",
    "POST /api/projects/{project}/workloads/",
    "POST /api/projects/{project}/storage/connections/",
    "POST /api/projects/{project}/storage/folders",
    "GET /api/projects/{project}/storage/objects",
    "PUT /api/projects/{project}/storage/objects",
    "DELETE /api/projects/{project}/storage/objects",
    "GET /api/projects/{project}/storage/objects/content",
    "POST /api/tokens/",
)
EXAMPLES = 12  # per operation and caller: the run stays within a few minutes on 2 cores
GENERATED: dict[str, int] = {}


@pytest.fixture
def team(seeded_catalog, token_for, settings, tmp_path):
    """`team-a` with what the operations act on: a queued workload, a stopped notebook `lab`, a local
    storage connection, a model `iris`; tokens of its editor and of an outsider. Each operation's run
    starts from these rows again (a transactional test), so a DELETE acts on rows made for it."""
    from tests.factories import ProjectFactory  # the shared `project` fixture is not transactional

    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    seed_images(NotebookImage, Flavor)  # the data migration's, gone with the transactional flush
    project = ProjectFactory(slug="team-a", display_name="Team A")
    editor = UserFactory(username="erin")
    MembershipFactory(project=project, user=editor, role=Role.EDITOR)
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    Workload.objects.create(
        id=WORKLOAD, project=project, kind="batch", name="sweep", spec=workload_spec("sweep")
    )
    notebook_create(project=project, owner=editor, name="lab", start=False)
    storage_connection_create(project=project, name="local", kind="local", buckets=["demo"])
    Model.objects.create(project=project, name="iris")
    return {"editor": token_for(editor), "outsider": token_for(UserFactory(username="mallory"))}


def native_api() -> schemathesis.BaseSchema:
    """The document /api/schema/ serves, built at collection (schemathesis makes one test per
    operation from it; its lazy `from_fixture` loader does not run on pytest 9). The live server
    serves the same document: test_the_live_console_serves_this_document."""
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])
    # Generated project slugs would almost all be unknown: aim the run at the one that exists.
    schema.config.update(parameters={"project": "team-a"})
    return schema.exclude(path_regex=r"/predict/$")  # the gateway's own tests (tests/prediction) cover it


DOCUMENT = SchemaGenerator().get_schema(request=None, public=True)
SCHEMA = native_api()


def test_the_live_console_serves_this_document(live_server):
    assert requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30).json() == DOCUMENT


HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module", autouse=True)
def _report_generated():
    yield
    print(f"\nschemathesis: {sum(GENERATED.values())} generated cases over {len(GENERATED)} operations")


def call(case, live_server, token: str):
    GENERATED[case.operation.label] = GENERATED.get(case.operation.label, 0) + 1
    headers = {"Authorization": f"Bearer {token}"}
    checks = CHECKS if case.operation.label in SEMANTIC else [*CHECKS, positive_data_acceptance]
    return case.call_and_validate(base_url=live_server.url, headers=headers, checks=checks)


@SCHEMA.parametrize()
@HYPOTHESIS
@seed(16)
def test_an_editor_gets_what_the_document_promises(case, live_server, team):
    call(case, live_server, team["editor"])


@SCHEMA.include(path_regex=r"^/api/projects/\{project\}/").parametrize()
@HYPOTHESIS
@seed(16)
def test_an_outsider_gets_a_declared_404_from_every_project_route(case, live_server, team):
    response = call(case, live_server, team["outsider"])
    assert response.status_code == 404, f"{case.method} {case.formatted_path}: {response.status_code}"
