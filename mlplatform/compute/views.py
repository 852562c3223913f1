"""The Queue pages (per project, and for platform staff) and a workload's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from mlplatform.compute import selectors, services
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Role
from mlplatform.core.selectors import project_role
from mlplatform.core.views import project_for_view


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


@login_required
def workload_detail(request: HttpRequest, project: str, workload) -> HttpResponse:
    obj = project_for_view(request, project)
    item = selectors.workload_get(project=obj, workload_id=workload)
    if item is None:
        raise Http404("No such workload.")
    groups = item.spec.get("groups", [])
    role, index = chosen_replica(request, groups)
    context = {
        "project": obj,
        "workload": item,
        "events": item.events.select_related("actor"),
        "groups": groups,
        "log_role": role,
        "log_index": index,
        "can_edit": project_role(obj, request.user).allows(Role.EDITOR),
    }
    fragment = request.GET.get("fragment")
    if fragment == "logs":
        context["log_lines"] = selectors.workload_log_tail(workload=item, role=role, index=index)
        return render(request, "compute/_workload_logs.html", context)
    context["cost"] = selectors.workload_cost(workload=item)
    if fragment == "status":
        return render(request, "compute/_workload_status.html", context)
    context["log_lines"] = selectors.workload_log_tail(workload=item, role=role, index=index)
    return render(request, "compute/workload_detail.html", context)


@login_required
def workload_utilisation(request: HttpRequest, project: str, workload) -> HttpResponse:
    """The live utilisation panel of a workload's pages (and of the notebook, job and model
    version it runs), polled while the workload has not finished."""
    obj = project_for_view(request, project)
    item = selectors.workload_get(project=obj, workload_id=workload)
    if item is None:
        raise Http404("No such workload.")
    context = {"workload": item, "utilisation": selectors.workload_utilisation(workload=item)}
    return render(request, "compute/_utilisation.html", context)


@login_required
@require_POST
def workload_cancel(request: HttpRequest, project: str, workload) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    item = selectors.workload_get(project=obj, workload_id=workload)
    if item is None:
        raise Http404("No such workload.")
    try:
        services.workload_cancel(workload=item, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Cancelling '{item.name}'.")
    return redirect(item.get_absolute_url())
