"""Permission tests every API resource gets, as NetBox's shared test cases give them, for pytest.

A resource's test class subclasses ResourcePermissions, declares one Case per method of each of its
routes (a read, or a write with the least role that may make it), and overrides the `given` fixture
to make what the cases act on in the project "team-a". It then gets these tests, one per case:

- an outsider gets 404 from every case, never 403, so projects cannot be probed;
- a viewer reads;
- a member below a write's least role gets 403 (PERMISSION_DENIED in Google's shape on the facades);
- the least role and the roles above it (an editor, an admin) make the write.

`routes_without_cases` walks the URL resolver: tests/test_permissions.py fails while a route of the
native API or of the `/v1`, `/v2` facades has a method that no case declares, so no new resource
ships without its permission tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.views import APIView

from mlplatform.core.models import Role

STAFF = "staff"  # platform staff, who need no membership: they set every project's quotas
MEMBERS = (Role.VIEWER, Role.EDITOR, Role.ADMIN)
API_PREFIXES = ("api/", "v1/", "v2/")
NOT_RESOURCES = ("api/schema/", "api/docs/")  # the OpenAPI document and its viewer
GOOGLE = {403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


@dataclass(frozen=True)
class Case:
    """One method of one route, on the rows `given` made; `{location}` is the platform's first."""

    method: str
    path: str
    body: Any = None  # JSON, or bytes sent as they are
    least: Role | str | None = None  # None: a read, which every member may make
    ok: int = 200  # what a caller who may gets

    @property
    def url(self) -> str:
        return self.path.format(location=settings.PLATFORM_LOCATIONS[0])

    @property
    def route(self) -> tuple[str, str]:
        """The (route, method) of the URL resolver this case exercises."""
        return resolve(urlsplit(self.url).path).route, self.method.lower()

    def allowed(self) -> tuple[Role | str, ...]:
        if self.least == STAFF:
            return (STAFF,)
        return tuple(role for role in MEMBERS if role.allows(self.least))

    def refused(self) -> tuple[Role, ...]:
        return tuple(role for role in MEMBERS if role not in self.allowed())

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def read(path: str, *, ok: int = 200) -> Case:
    return Case("GET", path, ok=ok)


def write(
    method: str, path: str, body: Any = None, *, least: Role | str = Role.EDITOR, ok: int = 200
) -> Case:
    return Case(method, path, body, least=least, ok=ok)


def send(client, case: Case):
    if isinstance(case.body, bytes):
        return client.generic(case.method, case.url, case.body, content_type="application/octet-stream")
    body = "" if case.body is None else json.dumps(case.body)
    return client.generic(case.method, case.url, body, content_type="application/json")


def assert_refused(response, status: int, case: Case) -> None:
    assert response.status_code == status, f"{case}: {response.status_code} {response.content[:300]!r}"
    if case.url.startswith(("/v1/", "/v2/")):
        assert response.json()["error"]["status"] == GOOGLE[status], case


class ResourcePermissions:
    """The mixin: subclass it with `cases` and a `given` fixture (see the module's docstring)."""

    cases: ClassVar[tuple[Case, ...]] = ()

    @pytest.fixture
    def given(self, project):
        """What the cases act on; a resource makes its rows here."""
        return project

    @pytest.fixture
    def caller(self, request, api, member):
        """caller(who) -> an API client acting as an outsider, a member with that role, or staff."""

        def make(who):
            if who in ("outsider", STAFF):
                return api(request.getfixturevalue("staff" if who == STAFF else "outsider"))
            return api(member(who, username=f"as-{who}"))

        return make

    def test_an_outsider_gets_404_never_403(self, given, caller, case):
        assert_refused(send(caller("outsider"), case), 404, case)

    def test_a_viewer_reads(self, given, caller, read_case):
        response = send(caller(Role.VIEWER), read_case)
        assert response.status_code == read_case.ok, f"{read_case}: {response.content[:300]!r}"

    def test_below_the_least_role_a_write_is_refused(self, given, caller, refused):
        case, who = refused
        assert_refused(send(caller(who), case), 403, case)

    def test_from_the_least_role_up_a_write_is_made(self, given, caller, allowed):
        case, who = allowed
        response = send(caller(who), case)
        assert response.status_code == case.ok, f"{case} as {who}: {response.content[:300]!r}"


def parametrize(metafunc) -> None:
    """pytest_generate_tests of a module with ResourcePermissions classes: one test per case (and role)."""
    cls = metafunc.cls
    if cls is None or not issubclass(cls, ResourcePermissions):
        return
    writes = [case for case in cls.cases if case.least is not None]
    rows = {
        "case": [(case, str(case)) for case in cls.cases],
        "read_case": [(case, str(case)) for case in cls.cases if case.least is None],
        "refused": [((case, who), f"{case} as {who}") for case in writes for who in case.refused()],
        "allowed": [((case, who), f"{case} as {who}") for case in writes for who in case.allowed()],
    }
    for name, values in rows.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, [value for value, _ in values], ids=[label for _, label in values])


# --- every route has its cases ----------------------------------------------------------------------


def api_routes(patterns=None, prefix: str = "") -> set[tuple[str, str]]:
    """(route, method) of every view of the native API and of the facades."""
    routes = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes |= api_routes(pattern.url_patterns, route)
            continue
        view = getattr(pattern.callback, "view_class", None)
        if not isinstance(pattern, URLPattern) or not route.startswith(API_PREFIXES):
            continue
        if route in NOT_RESOURCES or view is None or not issubclass(view, APIView):
            continue
        methods = {method for method in view.http_method_names if method not in ("head", "options")}
        routes |= {(route, method) for method in methods if hasattr(view, method)}
    return routes


def routes_without_cases(
    classes: list[type[ResourcePermissions]], unscoped: dict[tuple[str, str], object], patterns=None
) -> list[tuple[str, str]]:
    """The API's (route, method) pairs that neither a class's cases nor `unscoped` declare."""
    declared = {case.route for cls in classes for case in cls.cases}
    return sorted(api_routes(patterns) - declared - set(unscoped))
