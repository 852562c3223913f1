"""The Notebooks pages: the list, the create form with what the quota allows now, a notebook's page
with its spawn progress, and the start, stop, change and delete actions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from mlplatform.compute.models import Workload, WorkloadEvent
from mlplatform.compute.selectors import default_backend_gpus, quota_board, workload_cost
from mlplatform.compute.values import Stage
from mlplatform.compute.views import replica_log
from mlplatform.core.errors import ApplicationError, Refusals
from mlplatform.core.models import Project
from mlplatform.core.paging import paginate
from mlplatform.core.views import form_errors, project_for_view
from mlplatform.quotas.models import Flavor
from mlplatform.storage.selectors import connections_list
from notebooks_app import selectors, services
from notebooks_app.models import Notebook
from notebooks_app.selectors import Access

State = Notebook.State
SETTLED = (State.ACTIVE, State.STOPPED, State.FAILED)
FORM_INPUTS = ("name", "image", "flavor", "gpus", "cpu", "memory_gib", "home_size_gib", "env")
CHOICE_INPUTS = ("storage_connections",)  # checkboxes: a list each
ERROR_INPUTS = {"resources": "flavor"}  # what quota refuses is about the flavor and GPU count
LOG_LINES = 30
STEPS = ("Queued", "Admitted", "Scheduled on a node", "Image pulled", "Starting Jupyter", "Ready")
SCHEDULED, PULLED, STARTED = 2, 3, 4  # the steps a replica's stage says it is at
STAGE_STEPS = {
    Stage.SCHEDULING: SCHEDULED,
    Stage.PULLING: PULLED,
    Stage.STARTING: STARTED,
    Stage.READY: STARTED,  # ready in its pod, not yet seen by the status sync
}
LOCAL_STEPS = {SCHEDULED: "this machine", PULLED: "nothing to pull on the local backend"}
PROGRESS = (State.QUEUED, State.PROVISIONING)  # the first steps, one state each
EVENTS = 20
# A workload's cancel, in a notebook's words.
STOP_WORDS = {Workload.State.CANCELLING: "stop requested", Workload.State.CANCELLED: "stopped"}


# --- the form ----------------------------------------------------------------------------------


def form_data(post: QueryDict) -> dict:
    """The posted form as the template shows it again: text inputs as strings, checkboxes as lists."""
    return {**post.dict(), **{name: post.getlist(name) for name in CHOICE_INPUTS}}


def notebook_fields_from_form(data: Mapping, refusals: Refusals) -> dict:
    """services.notebook_create's (and notebook_update's) arguments from `form_data`; blank CPU
    and memory are left to the flavor's defaults. A number or an env line that cannot be read is
    noted in `refusals` and left at its default, so that the services' checks run too."""
    text = {name: (data.get(name) or "").strip() for name in FORM_INPUTS}
    fields: dict = {"image": text["image"] or None, "flavor": text["flavor"] or "cpu"}
    gpus = (
        refusals.check(_integer, text["gpus"] or "0", "gpus", default=1) if fields["flavor"] != "cpu" else 0
    )
    fields["gpus"] = gpus
    fields["home_size_gib"] = refusals.check(
        _integer, text["home_size_gib"] or "10", "home_size_gib", default=10
    )
    for name in ("cpu", "memory_gib"):
        if text[name]:
            fields[name] = text[name]  # services read and check the number
    fields["env"] = refusals.check(_env, text["env"], default={})
    fields["storage_connections"] = list(data.get("storage_connections") or ())
    return fields


def _integer(value: str, field: str) -> int:
    if not value.isdigit():
        raise ApplicationError(f"'{value}' is not a whole number.", field=field)
    return int(value)


def _env(value: str) -> dict[str, str]:
    env = {}
    for number, line in enumerate(value.splitlines(), start=1):
        if not line.strip():
            continue
        name, equals, rest = line.partition("=")
        if not equals:
            raise ApplicationError(f"line {number}: write NAME=value.", field="env")
        env[name.strip()] = rest.strip()
    return env


def _form_input(error_field: str | None) -> str:
    name = ERROR_INPUTS.get(error_field or "", error_field or "")
    return name if name in (*FORM_INPUTS, *CHOICE_INPUTS) else ""


def _form_error(exc: ApplicationError) -> dict:
    return form_errors(exc, _form_input)


@dataclass(frozen=True)
class FlavorChoice:
    """A flavor as the form offers it, with what the project's quota, and the machine the default
    backend runs on, let it have now."""

    flavor: Flavor
    nominal: int  # GPUs (vCPUs for CPU-only) of the project's quota; 0: none
    free: int  # what a new notebook could get now, borrowing from the cohort included
    borrowable: int
    machine_gpus: int | None = None  # the local backend's GPUs; None: a cluster decides

    @property
    def runnable(self) -> bool:
        return not self.flavor.is_gpu or self.machine_gpus != 0

    @property
    def most(self) -> int:
        """The most GPUs (vCPUs) the form lets one ask for."""
        quota = self.nominal + self.borrowable
        return quota if self.machine_gpus is None or not self.flavor.is_gpu else min(quota, self.machine_gpus)

    @property
    def hint(self) -> str:
        unit = "GPUs" if self.flavor.is_gpu else "vCPUs"
        if not self.runnable:
            return "not on this machine: it has no GPUs (the local backend runs notebooks here)"
        if not self.nominal and not self.borrowable:
            return "no quota in this project"
        borrowed = f", {self.borrowable} borrowable" if self.borrowable else ""
        machine = ""
        if (
            self.flavor.is_gpu
            and self.machine_gpus is not None
            and self.machine_gpus < self.nominal + self.borrowable
        ):
            machine = f"; this machine has {self.machine_gpus}"
        return f"{self.free} of {self.nominal} {unit} free now{borrowed}{machine}"


def flavor_choices(project: Project) -> list[FlavorChoice]:
    """The CPU-only flavor first, then the GPU flavors the project has quota for (or can borrow);
    on the local backend, one this machine has no GPUs for is shown as such, not offered."""
    rows = {row.flavor.name: row for row in quota_board(projects=[project])}
    machine_gpus = default_backend_gpus()
    choices = []
    for flavor in Flavor.objects.order_by("-resource_name", "name"):
        row = rows.get(flavor.name)
        if flavor.is_gpu and row is None:
            continue
        amount = "gpus" if flavor.is_gpu else "cpu"
        if row is None:
            choices.append(FlavorChoice(flavor, 0, 0, 0))
            continue
        nominal, free, borrowable = (int(getattr(a, amount)) for a in (row.nominal, row.free, row.borrowable))
        if flavor.is_gpu and machine_gpus is not None:
            free = min(free, machine_gpus)
        choices.append(FlavorChoice(flavor, nominal, free, borrowable, machine_gpus))
    return sorted(choices, key=lambda c: c.flavor.is_gpu)


def _form_context(project: Project, form: Mapping[str, str], error: dict | None) -> dict:
    return {
        "project": project,
        "form": form,
        "error": error,
        "flavors": flavor_choices(project),
        "images": selectors.notebook_images(),
        "connections": connections_list(project=project),
    }


# --- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    label: str
    status: str  # done, current, failed or todo
    detail: str = ""


def spawn_steps(notebook: Notebook) -> list[Step]:
    """Queued -> admitted -> scheduled -> image pulled -> Jupyter started -> ready, as far as the
    latest start got (the replica's stage, as the backend reports it); none while the notebook
    stops, is stopped or is being deleted."""
    workload = notebook.workload
    state = notebook.state
    if workload is None or state not in (*PROGRESS, State.STARTING, State.ACTIVE, State.FAILED):
        return []
    replica = next(iter(workload.replicas), {})
    stage = STAGE_STEPS.get(replica.get("stage") or "")
    if state == State.ACTIVE:
        current = len(STEPS)
    elif state == State.STARTING:
        current = stage or SCHEDULED
    elif state == State.FAILED:  # it failed at the first step it did not get past
        started = SCHEDULED if workload.started_at is None else STARTED
        current = 0 if workload.admitted_at is None else stage or started
    else:
        current = PROGRESS.index(state)
    position = f"position {notebook.queue_position} in the queue · " if notebook.queue_position else ""
    message = replica.get("message") or ""

    def on_the_node(step: int) -> str:
        if workload.backend == "local" and current > step:
            return LOCAL_STEPS[step]
        return message if current == step else ""  # the scheduler's or the kubelet's words

    details = [
        f"{position}{workload.reason}" if state == State.QUEUED else "",
        "quota reserved, handed to the backend" if current >= 1 else "",
        on_the_node(SCHEDULED),
        on_the_node(PULLED),
        (message or "starting") if current == STARTED and state != State.FAILED else "",
        "JupyterLab answers through the proxy" if state == State.ACTIVE else "",
    ]
    steps = []
    for index, (label, detail) in enumerate(zip(STEPS, details, strict=True)):
        if index < current:
            status = "done"
        elif index == current:
            status = "failed" if state == State.FAILED else "current"
        else:
            status = "todo"
        steps.append(Step(label, status, detail))
    return steps


# --- pages -------------------------------------------------------------------------------------


def _notebook_for_action(request: HttpRequest, project: str, name: str) -> Notebook:
    """The notebook an action is about: 404 for non-members, 403 below the role that may change it."""
    obj = project_for_view(request, project, needs=Access.CHANGE.role)
    return selectors.notebook_get(project=obj, name=name)


def _allowed(project: Project, user) -> dict[str, bool]:
    """What the page offers the user: the Open button (use), and actions and the form (change)."""
    return {
        "can_use": selectors.notebook_allows(project=project, user=user, access=Access.USE),
        "can_act": selectors.notebook_allows(project=project, user=user, access=Access.CHANGE),
    }


@login_required
def notebook_list(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    listing = paginate(request, selectors.notebooks_in(project=obj), name_field="name")
    notebooks = selectors.with_positions(listing.items)
    context = {
        "project": obj,
        "notebooks": notebooks,
        "listing": listing,
        **_allowed(obj, request.user),
        "polling": any(notebook.state not in SETTLED for notebook in notebooks),
    }
    fragment = request.GET.get("fragment") == "table"
    return render(
        request, "notebooks/_notebook_table.html" if fragment else "notebooks/notebook_list.html", context
    )


@login_required
def notebook_new(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Access.CHANGE.role)
    error = None
    form: Mapping = {
        "flavor": "cpu",
        "home_size_gib": "10",
        "storage_connections": [c.name for c in connections_list(project=obj)],
    }
    if request.method == "POST":
        form = form_data(request.POST)
        refusals = Refusals()
        fields = notebook_fields_from_form(form, refusals)
        try:
            with refusals.noted():  # what the services refuse too, checked without writing after a bad field
                notebook = services.notebook_create(
                    project=obj,
                    owner=request.user,
                    name=form.get("name", "").strip(),
                    validate_only=bool(refusals.errors),
                    **fields,
                )
            refusals.raise_any()
        except ApplicationError as exc:
            error = _form_error(exc)
        else:
            messages.success(
                request, f"Notebook '{notebook.name}' created: it starts as soon as its quota frees."
            )
            return redirect("notebook-detail", project=obj.slug, name=notebook.name)
    return render(
        request, "notebooks/notebook_form.html", _form_context(obj, form, error), status=400 if error else 200
    )


@login_required
def notebook_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    obj = project_for_view(request, project)
    notebook = selectors.notebook_get(project=obj, name=name)
    fragment = request.GET.get("fragment")
    if fragment == "logs":  # polled every 2 s: the log alone, without the rest of the page's reads
        context = {"workload": notebook.workload, **_log_context(request, notebook)}
        return render(request, "compute/_log.html", context)
    context = _detail_context(request, notebook)
    if fragment is None or notebook.state == State.FAILED:  # a failed start says whether it wrote a log
        context.update(_log_context(request, notebook))
    if fragment == "status":
        return render(request, "notebooks/_notebook_status.html", context)
    if request.GET.get("edit") and notebook.is_stopped:
        context.update(_form_context(obj, _form_of(notebook), None), editing=True)
    return render(request, "notebooks/notebook_detail.html", context)


def _log_context(request: HttpRequest, notebook: Notebook) -> dict:
    """The log panel's context (compute.views.replica_log) for the notebook's current start."""
    if notebook.workload is None:
        return {}
    download = reverse("workload-log", args=(notebook.project.slug, notebook.workload.id))
    return {**replica_log(request, notebook.workload, lines=LOG_LINES), "log_download": download}


def _detail_context(request: HttpRequest, notebook: Notebook) -> dict:
    workload = notebook.workload
    events = _events(workload)
    if workload is not None:
        # Its state read after its events (a state and its event commit together) is never behind
        # them, so the header's state is the events' last; read again if it moved on in between.
        workload.refresh_from_db()
        if events and events[0][0].state != workload.state:
            events = _events(workload)
    return {
        "project": notebook.project,
        "notebook": notebook,
        "workload": workload,
        "steps": spawn_steps(notebook),
        "events": events,
        "cost": workload_cost(workload=workload) if workload is not None else None,
        # who stopped it and why, when a stop ended its latest start
        "stopped_by": events[0][2] if events and events[0][0].state == Workload.State.CANCELLED else "",
        "shows_log": workload is not None and notebook.state not in (State.STOPPED, State.DELETING),
        **_allowed(notebook.project, request.user),
        "polling": notebook.state not in SETTLED,
    }


def _events(workload) -> list[tuple[WorkloadEvent, str, str]]:
    """The latest events of the notebook's current start, each with the notebook's state it led to
    and its line, in a notebook's words: a user's cancel of its workload is a stop."""
    if workload is None:
        return []
    events = workload.events.select_related("actor").order_by("-time", "-id")[:EVENTS]
    return [(event, Notebook.STATES[event.state], event.summary(STOP_WORDS)) for event in events]


def _form_of(notebook: Notebook) -> dict[str, str]:
    return {
        "image": notebook.image.name,
        "flavor": notebook.flavor.name,
        "gpus": str(notebook.gpus),
        "cpu": f"{notebook.cpu.normalize():f}",
        "memory_gib": f"{notebook.memory_gib.normalize():f}",
        "home_size_gib": str(notebook.home_size_gib),
        "env": "\n".join(f"{key}={value}" for key, value in notebook.env.items()),
        "storage_connections": [c.name for c in notebook.storage_connections.all()],
    }


@login_required
@require_POST
def notebook_start(request: HttpRequest, project: str, name: str) -> HttpResponse:
    notebook = _notebook_for_action(request, project, name)
    _act(
        request,
        lambda: services.notebook_start(notebook=notebook, actor=request.user),
        f"'{name}' is starting.",
    )
    return redirect("notebook-detail", project=project, name=name)


@login_required
@require_POST
def notebook_stop(request: HttpRequest, project: str, name: str) -> HttpResponse:
    notebook = _notebook_for_action(request, project, name)
    _act(
        request,
        lambda: services.notebook_stop(notebook=notebook, actor=request.user),
        f"'{name}' is stopping; its home and files stay.",
    )
    return redirect("notebook-detail", project=project, name=name)


@login_required
@require_POST
def notebook_delete(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """Delete with the home volume, confirmed by typing the notebook's name."""
    notebook = _notebook_for_action(request, project, name)
    confirm = request.POST.get("confirm", "").strip() == name
    if _act(
        request,
        lambda: services.notebook_delete(notebook=notebook, actor=request.user, confirm=confirm),
        f"'{name}' is being deleted with its home volume.",
    ):
        return redirect("notebooks", project=project)
    return redirect("notebook-detail", project=project, name=name)


@login_required
@require_POST
def notebook_edit(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """Change a stopped notebook's image and resources; its name stays."""
    notebook = _notebook_for_action(request, project, name)
    refusals = Refusals()
    fields = notebook_fields_from_form(form_data(request.POST), refusals)
    try:
        refusals.raise_any()
        services.notebook_update(notebook=notebook, **fields)
    except ApplicationError as exc:
        form = _form_context(notebook.project, form_data(request.POST), _form_error(exc))
        context = {**_detail_context(request, notebook), **form, "editing": True}
        return render(request, "notebooks/notebook_detail.html", context, status=400)
    messages.success(request, f"Notebook '{name}' changed: start it to use the new resources.")
    return redirect("notebook-detail", project=project, name=name)


def _act(request: HttpRequest, action, done: str) -> bool:
    """Run a service, telling the user how it went on the next page."""
    try:
        action()
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, f"Notebook {done}")
    return True
