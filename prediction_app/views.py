"""Pages: the project's models, a model with its versions, a version with its state, replicas,
events, errors, recent traffic and a "try it" box, and the forms that create models and versions.
They call the services the APIs call, and predict through the same gateway."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from mlplatform.compute.selectors import workload_cost, workload_log_tail
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Role
from mlplatform.core.paging import paginate
from mlplatform.core.views import form_errors, project_for_view
from prediction_app import selectors, services
from prediction_app.bodies import version_json
from prediction_app.gcp_apis import run_gateway
from prediction_app.inputs import FRAMEWORKS
from prediction_app.models import Version
from prediction_app.specs import ROLE

SETTLED = {Version.State.READY, Version.State.FAILED}
EVENTS = 20
LOG_LINES = 40
TRAFFIC_MINUTES = 60


def _can_change(project, user) -> bool:
    return selectors.prediction_allows(project=project, user=user, needs=Role.EDITOR)


@login_required
def model_list(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    error, form = None, {}
    if request.method == "POST":
        obj = project_for_view(request, project, needs=Role.EDITOR)
        form = {
            "name": request.POST.get("name", "").strip(),
            "description": request.POST.get("description", ""),
        }
        try:
            model = services.model_create(project=obj, body=form, user=request.user)
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, f"Model '{model.name}' created: add a version to serve it.")
            return redirect("prediction-model", project=obj.slug, model=model.name)
    listing = paginate(
        request, selectors.models_list(project=obj).prefetch_related("versions"), name_field="name"
    )
    context = {
        "project": obj,
        "models": listing.items,
        "listing": listing,
        "can_change": _can_change(obj, request.user),
        "form": form,
        "error": error,
    }
    return render(request, "prediction/model_list.html", context, status=400 if error else 200)


@login_required
def model_detail(request: HttpRequest, project: str, model: str) -> HttpResponse:
    obj = project_for_view(request, project)
    row = selectors.model_get(project=obj, name=model)
    versions = list(selectors.versions_list(model=row))
    context = {
        "project": obj,
        "model": row,
        "versions": versions,
        "can_change": _can_change(obj, request.user),
        "polling": any(v.state not in SETTLED for v in versions),
    }
    template = (
        "prediction/_version_table.html" if request.GET.get("fragment") else "prediction/model_detail.html"
    )
    return render(request, template, context)


@login_required
def version_new(request: HttpRequest, project: str, model: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    row = selectors.model_get(project=obj, name=model)
    form = {"name": "v1", "framework": "SCIKIT_LEARN", "nodes": "1", "scaling": "manual"}
    error = None
    if request.method == "POST":
        form = {
            key: request.POST.get(key, "").strip() for key in request.POST if key != "csrfmiddlewaretoken"
        }
        try:
            services.version_create(model=row, body=_version_body(form), user=request.user)
        except ApplicationError as exc:
            error = form_errors(exc, _version_input)
        else:
            messages.success(
                request, f"Version '{form['name']}' is being created: it serves once its replicas are ready."
            )
            return redirect("prediction-version", project=obj.slug, model=row.name, version=form["name"])
    context = {
        "project": obj,
        "model": row,
        "form": form,
        "error": error,
        "frameworks": sorted(FRAMEWORKS),
        "machines": list(selectors.serving_machines()),
    }
    return render(request, "prediction/version_form.html", context, status=400 if error else 200)


# An error's field (a path in the Version body) -> the form input it is about.
VERSION_INPUTS = {
    "version.name": "name",
    "version.deploymentUri": "deploymentUri",
    "version.framework": "framework",
    "version.machineType": "machineType",
    "version.manualScaling": "nodes",
    "version.manualScaling.nodes": "nodes",
    "version.autoScaling": "minNodes",
    "version.autoScaling.minNodes": "minNodes",
    "version.autoScaling.maxNodes": "maxNodes",
    "version.description": "description",
}


def _version_input(error_field: str | None) -> str:
    return VERSION_INPUTS.get(error_field or "", "")


def _version_body(form: dict) -> dict:
    """A Version body from the form's fields."""
    body = {
        key: form[key]
        for key in ("name", "description", "deploymentUri", "framework", "machineType")
        if form.get(key)
    }
    nodes = {key: form.get(key) or "" for key in ("nodes", "minNodes", "maxNodes")}
    if form.get("scaling") == "auto":
        body["autoScaling"] = {key: nodes[key] for key in ("minNodes", "maxNodes") if nodes[key]}
    else:
        body["manualScaling"] = {"nodes": nodes["nodes"] or "1"}
    return body


@login_required
def version_detail(request: HttpRequest, project: str, model: str, version: str) -> HttpResponse:
    obj = project_for_view(request, project)
    row = selectors.version_get(model=selectors.model_get(project=obj, name=model), name=version)
    context = _version_context(request, row)
    if request.GET.get("fragment") == "status":
        # the version's body follows its state: swapped out of band beside the status
        return render(request, "prediction/_version_status.html", {**context, "oob": True})
    return render(request, "prediction/version_detail.html", context)


def _version_context(request: HttpRequest, version: Version) -> dict:
    workload = version.workload
    state = version.state
    since = timezone.now() - timedelta(minutes=TRAFFIC_MINUTES)
    traffic = version.traffic.filter(minute__gte=since).aggregate(
        requests=Sum("requests"), errors=Sum("errors"), milliseconds=Sum("milliseconds")
    )
    requests = traffic["requests"] or 0
    show_log = workload is not None and workload.backend and state != Version.State.READY
    return {
        "project": version.model.project,
        "model": version.model,
        "version": version,
        "state": state,
        "workload": workload,
        "replicas": workload.replicas if workload is not None else [],
        "cost": workload_cost(workload=workload) if workload is not None else None,
        "events": list(workload.events.select_related("actor").order_by("-time", "-id")[:EVENTS])
        if workload
        else [],
        "log_lines": workload_log_tail(workload=workload, role=ROLE, index=0, lines=LOG_LINES)
        if show_log
        else None,
        "traffic": {
            "requests": requests,
            "errors": traffic["errors"] or 0,
            "latency_ms": (traffic["milliseconds"] or 0) / requests if requests else None,
            "minutes": TRAFFIC_MINUTES,
        },
        "body": json.dumps(version_json(version), indent=2),
        "can_change": _can_change(version.model.project, request.user),
        "can_predict": selectors.prediction_allows(
            project=version.model.project, user=request.user, needs=selectors.PREDICT_ROLE
        ),
        "polling": state not in SETTLED,
    }


@login_required
@require_POST
def version_try(request: HttpRequest, project: str, model: str, version: str) -> HttpResponse:
    """The "try it" box: the instances go through the gateway as the signed-in user's."""
    project_for_view(request, project)
    text = request.POST.get("instances", "")
    try:
        instances = json.loads(text)
    except json.JSONDecodeError as exc:
        return render(request, "prediction/_try_result.html", {"error": f"Not JSON: {exc}"})
    body = json.dumps({"instances": instances}).encode()
    path = f"/v1/projects/{project}/models/{model}/versions/{version}:predict"
    answer = run_gateway(request, ("user", request.user), path=path, body=body)
    try:
        payload = json.loads(answer.content or b"{}")
    except ValueError:  # a custom container's (or a proxy's) answer that is not JSON
        payload = None
    if not isinstance(payload, dict):
        text = answer.content.decode("utf-8", "replace").strip()[:300]
        payload = {"error": f"The version answered {answer.status_code} with no JSON: {text or '(nothing)'}"}
    error = payload.get("error")
    context = {
        "status": answer.status_code,
        "error": (error.get("message") if isinstance(error, dict) else error) if error else None,
        "predictions": json.dumps(payload.get("predictions"), indent=2) if not error else None,
    }
    return render(request, "prediction/_try_result.html", context)


@login_required
@require_POST
def version_act(request: HttpRequest, project: str, model: str, version: str, action: str) -> HttpResponse:
    """Make a version the default, or delete it."""
    obj = project_for_view(request, project, needs=Role.EDITOR)
    row = selectors.version_get(model=selectors.model_get(project=obj, name=model), name=version)
    try:
        if action == "default":
            services.version_set_default(version=row)
            messages.success(request, f"'{version}' is now the default version of {model}.")
        else:
            services.version_delete(version=row, user=request.user)
            messages.success(request, f"Version '{version}' is being deleted.")
            return redirect("prediction-model", project=obj.slug, model=model)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("prediction-version", project=obj.slug, model=model, version=version)
