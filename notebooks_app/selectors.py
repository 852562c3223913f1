"""Reads for notebooks: who may see, use and change them (Access, the one rule pages, the REST API,
Workbench and the proxy apply), the proxy's question (may this user reach that notebook, and where),
and what idle culling checks and records."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from mlplatform.compute.models import Workload
from mlplatform.compute.selectors import with_queue_positions, workload_endpoint
from mlplatform.compute.values import Endpoint
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project, Role
from mlplatform.core.selectors import project_role
from notebooks_app.idle import Verdict, idle_minutes, idle_verdict
from notebooks_app.models import IdlePolicy, Notebook, NotebookImage
from notebooks_app.specs import PORT, ROLE, TOKEN_HEADER


class Access(enum.Enum):
    """What a user does with a project's notebooks; `role` is the least project role that may.

    The rule goes by the project role alone: every member (viewers up) may SEE the project's
    notebooks (the list, a notebook's page, its events, the API's and Workbench's reads); editors
    and admins may USE any of them (open its JupyterLab through the proxy) and CHANGE any of them
    (create, start, stop, reset, edit, delete), as contributors of a Kubeflow profile manage every
    notebook of its namespace. Owning a notebook grants nothing more: its Jupyter runs code with
    the project's storage credentials and quota, which is an editor's right, so an owner who is made
    a viewer keeps seeing the notebook and loses the rest at once, everywhere alike.
    """

    SEE = "see"
    USE = "use"
    CHANGE = "change"

    @property
    def role(self) -> Role:
        return Role.VIEWER if self is Access.SEE else Role.EDITOR


def notebook_allows(*, project: Project, user: AbstractBaseUser, access: Access) -> bool:
    """Whether `user` may `access` the notebooks of `project` (Access says who may)."""
    role = project_role(project, user) if user.is_active else None
    return role is not None and role.allows(access.role)


def notebooks_list(*, project: Project) -> list[Notebook]:
    """The project's notebooks, newest first, queued ones with their queue positions."""
    return with_positions(notebooks_in(project=project))


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
    return with_positions([notebook])[0]


def notebook_images() -> QuerySet[NotebookImage]:
    return NotebookImage.objects.prefetch_related("flavors")


def _notebooks() -> QuerySet[Notebook]:
    return Notebook.objects.select_related("project", "owner", "image", "flavor", "workload", "activity")


def with_positions(notebooks: Iterable[Notebook]) -> list[Notebook]:
    """The notebooks, queued ones with their queue positions (one query for them all)."""
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


@dataclass(frozen=True)
class Jupyter:
    """How the console talks to a running notebook's Jupyter: where, and what every request carries."""

    upstream: Endpoint
    headers: tuple[tuple[str, str], ...]


def notebook_jupyter(notebook: Notebook) -> Jupyter | None:
    """The notebook's Jupyter as the proxy and idle culling reach it, or None while it has no address.
    Raises BackendError when the backend cannot say."""
    upstream = notebook_upstream(notebook)
    return None if upstream is None else Jupyter(upstream, jupyter_headers(upstream, notebook.secret))


def notebook_route(*, project: str, name: str, user: AbstractBaseUser) -> Route | None:
    """The route to `project/name` for `user`, or None where the user may not use the notebook
    (Access.USE): it does not exist, or they are not a member, or they are a viewer (the proxy
    answers all of these alike, so notebooks cannot be probed)."""
    notebook = _notebooks().filter(project__slug=project, name=name).first()
    if notebook is None or not notebook_allows(project=notebook.project, user=user, access=Access.USE):
        return None
    state = notebook.state
    if state != Notebook.State.ACTIVE:
        notebook = with_positions([notebook])[0]
        return Route(state=state, reason=notebook.reason, queue_position=notebook.queue_position)
    jupyter = notebook_jupyter(notebook)
    if jupyter is None:
        return Route(state=Notebook.State.STARTING, reason="its server has no address yet")
    # The forwarder adds the endpoint's own headers: the route carries the token alone.
    token = jupyter_token(jupyter.upstream, notebook.secret)
    return Route(state=state, upstream=jupyter.upstream, headers=(token,))


# --- idle culling: what a pass checks, the page's warning and the admin report -------------------


def notebooks_to_check() -> QuerySet[Notebook]:
    """The running notebooks of projects whose idle policy stops notebooks: what a culling pass asks."""
    return _running().filter(
        project__idle_policy__enabled=True, project__idle_policy__stop_after_minutes__isnull=False
    )


def idle_state(notebook: Notebook, *, now: datetime | None = None) -> Verdict | None:
    """How long the running notebook has been idle and when it stops, from what the last pass
    recorded; None without a limit that stops it or without a record of its current run."""
    policy = IdlePolicy.objects.filter(project_id=notebook.project_id).first()
    if policy is None or policy.stop_after is None:
        return None
    last_activity = _recorded_activity(notebook)
    if last_activity is None:
        return None
    return idle_verdict(
        last_activity=last_activity,
        now=now or timezone.now(),
        stop_after=policy.stop_after,
        warn_before=policy.warn_before,
    )


@dataclass(frozen=True)
class IdleGpuNotebook:
    notebook: Notebook
    gpus: int
    idle_minutes: int | None  # None: not checked yet during this run


def idle_gpu_notebooks(*, now: datetime | None = None) -> list[IdleGpuNotebook]:
    """Running notebooks that hold GPUs, the longest idle first (unchecked ones last)."""
    now = now or timezone.now()
    rows = []
    for notebook in _running().filter(gpus__gt=0).select_related("activity", "flavor"):
        last_activity = _recorded_activity(notebook)
        idle = None if last_activity is None else idle_minutes(last_activity=last_activity, now=now)
        rows.append(IdleGpuNotebook(notebook=notebook, gpus=notebook.gpus, idle_minutes=idle))
    return sorted(rows, key=lambda row: -1 if row.idle_minutes is None else row.idle_minutes, reverse=True)


def _running() -> QuerySet[Notebook]:
    return Notebook.objects.select_related("project__idle_policy", "workload", "owner").filter(
        workload__state=Workload.State.RUNNING, desired_state=Notebook.Desired.RUNNING
    )


def _recorded_activity(notebook: Notebook) -> datetime | None:
    """The recorded last activity, if recorded while the notebook runs its current start."""
    workload = notebook.workload
    if workload is None or workload.state != Workload.State.RUNNING:
        return None
    activity = getattr(notebook, "activity", None)  # a reverse one-to-one: missing raises AttributeError
    if activity is None:
        return None
    started = workload.started_at or workload.created_at
    return activity.last_activity if activity.checked_at >= started - timedelta(seconds=1) else None
