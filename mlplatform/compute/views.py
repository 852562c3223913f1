"""The Queue pages (per project, and for platform staff) and a workload's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from mlplatform.compute import selectors, services
from mlplatform.compute.models import Workload
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Project, Role
from mlplatform.core.selectors import project_role
from mlplatform.core.streaming import streaming_response
from mlplatform.core.views import project_for_view

TEXT = "text/plain; charset=utf-8"
LOG_SEARCH_MAX = 200  # characters of a log search


@login_required
def queue(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    context = {
        "project": obj,
        **selectors.queue(project=obj),
        "quotas": selectors.quota_board(projects=[obj]),
        "gpu_hours": selectors.gpu_hours(project=obj),
        "cost": selectors.project_cost(project=obj),
    }
    template = "compute/_queue_body.html" if request.headers.get("HX-Request") else "compute/queue.html"
    return render(request, template, context)


@staff_member_required
def admin_queue(request: HttpRequest) -> HttpResponse:
    context = {
        "project": None,
        "all_projects": True,
        **selectors.queue(),
        "quotas": selectors.quota_board(),
        "backend": selectors.backend_overview(),
    }
    template = "compute/_queue_body.html" if request.headers.get("HX-Request") else "compute/queue.html"
    return render(request, template, context)


def chosen_replica(request: HttpRequest, groups: list[dict]) -> tuple[str, int]:
    """The replica whose log a page shows: `?role=&index=`, else the first group's first."""
    role = request.GET.get("role") or (groups[0]["role"] if groups else "")
    index = int(request.GET["index"]) if request.GET.get("index", "").isdigit() else 0
    return role, index


def replica_log(request: HttpRequest, workload: Workload, *, lines: int = 200) -> dict:
    """What compute/_log_panel.html shows of the chosen replica's log (chosen_replica): its last
    lines, those matching the search `?q=` only, each after its time with `?timestamps=1`, wrapped
    with `?wrap=1`."""
    role, index = chosen_replica(request, workload.spec.get("groups", []))
    q = request.GET.get("q", "").strip()[:LOG_SEARCH_MAX]
    log = selectors.workload_log_view(
        workload=workload,
        role=role,
        index=index,
        lines=lines,
        q=q,
        timestamps=request.GET.get("timestamps") == "1",
    )
    return {
        "log_role": role,
        "log_index": index,
        "log_lines": log.lines,
        "log": log,
        "log_q": q,
        "log_wrap": request.GET.get("wrap") == "1",
    }


def log_file(request: HttpRequest, workload: Workload, name: str) -> HttpResponse:
    """The whole log of the replica `?role=&index=` as a download, `<name>-<role>-<index>.log`; a
    replica that does not exist or has no log yet is a plain-text refusal."""
    role, index = chosen_replica(request, workload.spec.get("groups", []))
    try:
        lines = selectors.workload_logs(workload=workload, role=role, index=index, tail=None, follow=False)
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=exc.code.http_status, content_type=TEXT)
    response = streaming_response(request, (line + "\n" for line in lines), content_type=TEXT)
    response["Content-Disposition"] = content_disposition_header(True, f"{name}-{role}-{index}.log")
    return response


def _workload_for_view(
    request: HttpRequest, project: str, workload, *, needs: Role = Role.VIEWER
) -> tuple[Project, Workload]:
    """The page's project and its workload; 404 for a workload not in it (project_for_view answers
    non-members and roles below `needs`)."""
    obj = project_for_view(request, project, needs=needs)
    item = selectors.workload_get(project=obj, workload_id=workload)
    if item is None:
        raise Http404("No such workload.")
    return obj, item


@login_required
def workload_detail(request: HttpRequest, project: str, workload) -> HttpResponse:
    obj, item = _workload_for_view(request, project, workload)
    context = {
        "project": obj,
        "workload": item,
        "events": item.events.select_related("actor"),
        "groups": item.spec.get("groups", []),
        "can_edit": project_role(obj, request.user).allows(Role.EDITOR),
    }
    fragment = request.GET.get("fragment")
    if fragment != "logs":  # the status card shows the cost; the log polled beside it does not
        context["cost"] = selectors.workload_cost(workload=item)
    if fragment == "status":
        return render(request, "compute/_workload_status.html", context)
    context.update(replica_log(request, item), log_download=reverse("workload-log", args=(obj.slug, item.id)))
    if fragment == "logs":
        return render(request, "compute/_log.html", context)
    return render(request, "compute/workload_detail.html", context)


@login_required
def workload_log(request: HttpRequest, project: str, workload) -> HttpResponse:
    """A replica's whole log as a file, for anyone who may see the workload."""
    _, item = _workload_for_view(request, project, workload)
    return log_file(request, item, item.name)


@login_required
def workload_utilisation(request: HttpRequest, project: str, workload) -> HttpResponse:
    """The live utilisation panel of a workload's pages (and of the notebook, job and model
    version it runs), polled while the workload has not finished."""
    _, item = _workload_for_view(request, project, workload)
    context = {"workload": item, "utilisation": selectors.workload_utilisation(workload=item)}
    return render(request, "compute/_utilisation.html", context)


@login_required
@require_POST
def workload_cancel(request: HttpRequest, project: str, workload) -> HttpResponse:
    _, item = _workload_for_view(request, project, workload, needs=Role.EDITOR)
    try:
        services.workload_cancel(workload=item, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Cancelling '{item.name}'.")
    return redirect(item.get_absolute_url())
