"""Reads for notebooks, and the proxy's one question: may this user reach that notebook, and where."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from mlplatform.compute.selectors import with_queue_positions, workload_endpoint
from mlplatform.compute.values import Endpoint
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project, Role
from mlplatform.core.selectors import project_role
from notebooks_app.models import Notebook, NotebookImage
from notebooks_app.specs import PORT, ROLE, TOKEN_HEADER


def notebooks_list(*, project: Project) -> list[Notebook]:
    """The project's notebooks, newest first, queued ones with their queue positions."""
    return _with_positions(notebooks_in(project=project))


def notebooks_in(*, project: Project, location: str | None = None) -> QuerySet[Notebook]:
    """The project's notebooks (of one location, where given), with what pages and APIs show."""
    notebooks = _notebooks().filter(project=project).prefetch_related("storage_connections")
    return notebooks if location is None else notebooks.filter(location=location)


def notebook_find(*, project: Project, name: str) -> Notebook | None:
    return _notebooks().filter(project=project, name=name).first()


def notebook_get(*, project: Project, name: str) -> Notebook:
    """Raises NOT_FOUND."""
    notebook = notebook_find(project=project, name=name)
    if notebook is None:
        raise ApplicationError(f"Notebook '{name}' was not found.", code=ErrorCode.NOT_FOUND)
    return _with_positions([notebook])[0]


def notebook_images() -> QuerySet[NotebookImage]:
    return NotebookImage.objects.prefetch_related("flavors")


def _notebooks() -> QuerySet[Notebook]:
    return Notebook.objects.select_related("project", "owner", "image", "flavor", "workload", "activity")


def _with_positions(notebooks: Iterable[Notebook]) -> list[Notebook]:
    notebooks = list(notebooks)
    with_queue_positions(notebook.workload for notebook in notebooks if notebook.workload is not None)
    return notebooks


# --- the proxy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Where the proxy sends a user's requests for one notebook, when it is ACTIVE: `upstream`,
    and the `headers` every request to its Jupyter carries besides the upstream's own (the token);
    else its state and why."""

    state: str
    reason: str = ""
    queue_position: int | None = None
    upstream: Endpoint | None = None
    headers: tuple[tuple[str, str], ...] = ()


def notebook_upstream(notebook: Notebook) -> Endpoint | None:
    """Where the console reaches the notebook's Jupyter, or None while it has no address."""
    return workload_endpoint(workload=notebook.workload, role=ROLE, port=PORT)


def jupyter_headers(upstream: Endpoint, secret: str) -> tuple[tuple[str, str], ...]:
    """What every request to a notebook's Jupyter carries: the endpoint's own credentials and the
    notebook's token."""
    return (*upstream.headers, jupyter_token(upstream, secret))


def jupyter_token(upstream: Endpoint, secret: str) -> tuple[str, str]:
    """The notebook's token, in `Authorization` unless the API server's service proxy takes that header."""
    return (TOKEN_HEADER, secret) if upstream.via_api_server else ("Authorization", f"token {secret}")


def notebook_route(*, project: str, name: str, user: AbstractBaseUser) -> Route | None:
    """The route to `project/name` for `user`, or None where the user may not use the notebook:
    it does not exist, or they are not a member, or they are a viewer and not its owner (the proxy
    answers all of these alike, so notebooks cannot be probed)."""
    if not user.is_active:
        return None
    notebook = _notebooks().filter(project__slug=project, name=name).first()
    if notebook is None:
        return None
    role = project_role(notebook.project, user)
    if role is None or not (role.allows(Role.EDITOR) or notebook.owner_id == user.pk):
        return None
    state = notebook.state
    if state != Notebook.State.ACTIVE:
        notebook = _with_positions([notebook])[0]
        return Route(state=state, reason=notebook.reason, queue_position=notebook.queue_position)
    upstream = notebook_upstream(notebook)
    if upstream is None:
        return Route(state=Notebook.State.STARTING, reason="its server has no address yet")
    return Route(state=state, upstream=upstream, headers=(jupyter_token(upstream, notebook.secret),))
