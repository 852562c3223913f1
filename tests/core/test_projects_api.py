"""Projects and members through the native API: who may see and change what."""

import pytest

from mlplatform.core.models import Membership, Project, Role


def test_members_list_only_their_projects(api, admin_user, outsider):
    # given a project alice administers and one she is not in
    Project.objects.create(slug="elsewhere")

    # when she lists projects
    response = api(admin_user).get("/api/projects/")

    # then she sees hers, with her role
    assert response.status_code == 200
    assert [(p["slug"], p["role"]) for p in response.json()] == [("team-a", "admin")]


def test_staff_create_a_project_owned_by_someone(api, staff, outsider):
    response = api(staff).post(
        "/api/projects/", {"slug": "vision", "display_name": "Vision", "owner": "mallory"}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert Membership.objects.get(project__slug="vision").user == outsider
    assert Membership.objects.get(project__slug="vision").role == Role.ADMIN


def test_non_staff_cannot_create_projects(api, admin_user):
    response = api(admin_user).post("/api/projects/", {"slug": "mine"}, format="json")

    assert response.status_code == 403
    assert not Project.objects.filter(slug="mine").exists()


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("Team_A", "DNS-1123 label"),
        ("-edge", "DNS-1123 label"),
        ("a" * 64, "at most 63"),
        ("kube-system", "reserved"),
        ("default", "reserved"),
    ],
)
def test_invalid_slugs_are_refused_with_the_field_and_reason(api, staff, slug, reason):
    response = api(staff).post("/api/projects/", {"slug": slug}, format="json")

    assert response.status_code == 400
    assert reason in response.json()["slug"][0]
    assert not Project.objects.filter(slug=slug).exists()


def test_duplicate_project_is_a_conflict(api, staff, project):
    response = api(staff).post("/api/projects/", {"slug": "team-a"}, format="json")

    assert response.status_code == 409
    assert "already exists" in response.json()["slug"][0]
    assert Project.objects.filter(slug="team-a").count() == 1


def test_malformed_json_is_a_400(api, staff):
    response = api(staff).generic("POST", "/api/projects/", '{"slug": "x",', content_type="application/json")

    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    "url", ["/api/projects/team-a/", "/api/projects/team-a/members/", "/api/projects/team-a/quotas/"]
)
def test_non_members_get_404_not_403(api, project, outsider, url):
    response = api(outsider).get(url)

    assert response.status_code == 404
    assert "team-a" in response.json()["detail"]


def test_unauthenticated_requests_get_401_with_a_bearer_challenge(api, project):
    response = api().get("/api/projects/team-a/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_admin_adds_and_changes_members(api, admin_user, outsider):
    client = api(admin_user)

    added = client.post(
        "/api/projects/team-a/members/", {"username": "mallory", "role": "viewer"}, format="json"
    )
    changed = client.patch("/api/projects/team-a/members/mallory/", {"role": "editor"}, format="json")

    assert added.status_code == 201
    assert changed.status_code == 200
    assert Membership.objects.get(user=outsider).role == Role.EDITOR
    assert {m["username"] for m in client.get("/api/projects/team-a/members/").json()} == {"alice", "mallory"}


def test_viewers_and_editors_cannot_manage_members(api, member, outsider):
    for role in (Role.VIEWER, Role.EDITOR):
        response = api(member(role)).post(
            "/api/projects/team-a/members/", {"username": "mallory", "role": "admin"}, format="json"
        )
        assert response.status_code == 403
        assert "admin role" in response.json()["detail"]
    assert not Membership.objects.filter(user=outsider).exists()


def test_the_last_admin_cannot_leave_or_step_down(api, admin_user):
    client = api(admin_user)

    demoted = client.patch("/api/projects/team-a/members/alice/", {"role": "viewer"}, format="json")
    removed = client.delete("/api/projects/team-a/members/alice/")

    assert demoted.status_code == 400
    assert "last admin" in demoted.json()["role"][0]
    assert removed.status_code == 400
    assert Membership.objects.get(user=admin_user).role == Role.ADMIN


def test_unknown_role_and_user_are_named(api, admin_user):
    client = api(admin_user)

    bad_role = client.post(
        "/api/projects/team-a/members/", {"username": "alice", "role": "owner"}, format="json"
    )
    bad_user = client.post(
        "/api/projects/team-a/members/", {"username": "nobody", "role": "viewer"}, format="json"
    )

    assert bad_role.status_code == 400
    assert "role" in bad_role.json()
    assert bad_user.status_code == 400
    assert "nobody" in bad_user.json()["username"][0]


def test_admin_renames_a_project(api, admin_user, member):
    assert (
        api(member(Role.EDITOR))
        .patch("/api/projects/team-a/", {"display_name": "X"}, format="json")
        .status_code
        == 403
    )

    response = api(admin_user).patch("/api/projects/team-a/", {"display_name": "Team Alpha"}, format="json")

    assert response.status_code == 200
    assert Project.objects.get(slug="team-a").display_name == "Team Alpha"


def test_openapi_schema_lists_the_native_api(api, admin_user):
    response = api(admin_user).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/projects/", "/api/projects/{project}/members/", "/api/tokens/", "/api/flavors/"} <= set(
        paths
    )
    assert not [path for path in paths if not path.startswith("/api/")]  # Google's have discovery docs
    schemes = response.json()["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
