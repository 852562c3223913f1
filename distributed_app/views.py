"""The console's MPI job pages: the list, the form, and a job's page (state, the launcher's log,
each worker's, and the hostfile the launcher used)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from distributed_app import selectors, services
from distributed_app.inputs import MpiImplementation
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Role
from mlplatform.core.paging import paginate
from mlplatform.core.views import form_errors, project_for_view
from mlplatform.quotas.models import Flavor

FORM_INPUTS = ("name", "image", "command", "flavor", "mpi_implementation")  # and the WHOLE_FIELDS
WHOLE_FIELDS = (
    "workers",
    "slots_per_worker",
    "backoff_limit",
    "max_run_seconds",
    "ttl_seconds_after_finished",
)


def body_from_form(form: Mapping[str, str]) -> dict:
    """The API's body from the form's fields: the command as a shell would split it."""
    body = {
        name: form[name].strip()
        for name in ("name", "image", "flavor", "mpi_implementation")
        if form.get(name)
    }
    try:
        body["command"] = shlex.split(form.get("command", ""))
    except ValueError:  # an unclosed quote: the API's check says what a command must be
        body["command"] = form.get("command", "")
    body.update({name: form[name].strip() for name in WHOLE_FIELDS if form.get(name, "").strip()})
    return body


@login_required
def job_list(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    listing = paginate(request, selectors.distributed_jobs_list(project=obj), name_field="name")
    return render(
        request, "distributed/job_list.html", {"project": obj, "jobs": listing.items, "listing": listing}
    )


@login_required
def job_new(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    error = None
    form = {"workers": "2", "slots_per_worker": "1", "flavor": "cpu", "mpi_implementation": "openmpi"}
    if request.method == "POST":
        form = request.POST.dict()
        try:
            job = services.distributed_job_create(project=obj, body=body_from_form(form), user=request.user)
        except ApplicationError as exc:
            error = form_errors(exc, lambda field: field if field in (*FORM_INPUTS, *WHOLE_FIELDS) else "")
        else:
            messages.success(request, f"MPI job '{job.name}' queued.")
            return redirect(job)
    context = {
        "project": obj,
        "form": form,
        "error": error,
        "flavors": Flavor.objects.all(),
        "implementations": [m.value for m in MpiImplementation],
    }
    return render(request, "distributed/job_form.html", context, status=400 if error else 200)


@login_required
def job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    obj = project_for_view(request, project)
    job = selectors.distributed_job_get(project=obj, name=name)
    logs = selectors.replica_logs(job)
    context = {"project": obj, "job": job, "logs": logs, "hostfile": selectors.hostfile_used(logs[0][1])}
    return render(request, "distributed/job_detail.html", context)


@login_required
@require_POST
def job_cancel(request: HttpRequest, project: str, name: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    job = selectors.distributed_job_get(project=obj, name=name)
    try:
        services.distributed_job_cancel(job=job, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(job)
