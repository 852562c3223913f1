"""The Training pages: the jobs list, the submit form (with its googleapiclient twin), a job's page."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from mlplatform.compute.selectors import with_queue_positions, workload_cost, workload_costs
from mlplatform.compute.views import log_file, replica_log
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Role
from mlplatform.core.paging import paginate
from mlplatform.core.selectors import project_role
from mlplatform.core.views import console_url, form_errors, project_for_view
from mlplatform.quotas.models import AcceleratorType, MachineType
from mlplatform.storage.selectors import default_connection
from training_app import services
from training_app.apis import job_json
from training_app.jobs import job_kind, job_kinds
from training_app.models import Job, RuntimeVersion
from training_app.runtime import trainer
from training_app.selectors import job_get, job_tuning_spec, jobs_list, runtime_versions, trials_page

TRAINING = "trainingInput"  # the kind of job these pages show
SCALE_TIERS = ("BASIC", "BASIC_GPU", "STANDARD_1", "PREMIUM_1", "CUSTOM")
RETRIES_LABEL = "mlplatform-retries"
FAIL_FAST_LABEL = "mlplatform-fail-fast-exit-codes"
TF_PORT = 2222  # the port AI Platform's replicas listen on, and the backends' default

# An error's field (a path in the Job body) -> the form input it is about; the longest prefix wins.
FORM_INPUTS = {
    "jobId": "job_id",
    "trainingInput.packageUris": "package_uris",
    "trainingInput.pythonModule": "python_module",
    "trainingInput.masterConfig": "image_uri",
    "trainingInput.masterConfig.imageUri": "image_uri",
    "trainingInput.masterConfig.containerCommand": "command",
    "trainingInput.masterConfig.containerArgs": "container_args",
    "trainingInput.masterConfig.acceleratorConfig": "master_accelerator_type",
    "trainingInput.masterConfig.acceleratorConfig.count": "master_accelerator_count",
    "trainingInput.runtimeVersion": "runtime",
    "trainingInput.pythonVersion": "runtime",
    "trainingInput.scaleTier": "scale_tier",
    "trainingInput.masterType": "master_type",
    "trainingInput.workerCount": "worker_count",
    "trainingInput.workerType": "worker_type",
    "trainingInput.workerConfig": "worker_accelerator_type",
    "trainingInput.workerConfig.acceleratorConfig.count": "worker_accelerator_count",
    "trainingInput.parameterServerCount": "ps_count",
    "trainingInput.parameterServerType": "ps_type",
    "trainingInput.args": "args",
    "trainingInput.jobDir": "job_dir",
    "trainingInput.hyperparameters": "hyperparameters",
    "labels": "labels",
    f"labels.{RETRIES_LABEL}": "retries",
    f"labels.{FAIL_FAST_LABEL}": "fail_fast_exit_codes",
}


# --- the form <-> the AI Platform Job body ----------------------------------------------------


def job_body_from_form(data: Mapping[str, str]) -> dict:
    """The AI Platform Job body (`jobId`, `trainingInput`, `labels`) the submit form describes.

    Blank fields are left out, as a googleapiclient user would leave them out; whether the rest
    makes a valid job is for services.job_create to say.
    """

    def text(name: str) -> str:
        return (data.get(name) or "").strip()

    training: dict = {"scaleTier": text("scale_tier") or "BASIC"}
    if training["scaleTier"] == "CUSTOM":
        training.update(_machines(text))
    if text("kind") == "container":
        master = training.setdefault("masterConfig", {})
        master["imageUri"] = text("image_uri")
        _put(master, "containerCommand", _command(text("command")))
        _put(master, "containerArgs", _lines(text("container_args")))
    else:
        _put(training, "packageUris", _items(text("package_uris")))
        _put(training, "pythonModule", text("python_module"))
        runtime, _, python = text("runtime").partition("|")
        _put(training, "runtimeVersion", runtime)
        _put(training, "pythonVersion", python)
    _put(training, "args", _lines(text("args")))
    _put(training, "jobDir", text("job_dir"))
    _put(training, "hyperparameters", _json_or_text(text("hyperparameters")))
    pairs = (line.partition("=") for line in _lines(text("labels")))
    labels = {key.strip(): value.strip() for key, _, value in pairs}
    _put(labels, RETRIES_LABEL, text("retries"))
    _put(labels, FAIL_FAST_LABEL, "-".join(_items(text("fail_fast_exit_codes"))))
    body = {"jobId": text("job_id"), "trainingInput": training}
    _put(body, "labels", labels)
    return body


def _machines(text: Callable[[str], str]) -> dict:
    """The CUSTOM tier's machine fields. Counts are int64, which JSON carries as strings."""
    training: dict = {}
    _put(training, "masterType", text("master_type"))
    _put(training, "masterConfig", _accelerator(text, "master"))
    if text("worker_count") not in ("", "0"):
        training["workerCount"] = text("worker_count")
        _put(training, "workerType", text("worker_type") or text("master_type"))  # gcloud's default
        _put(training, "workerConfig", _accelerator(text, "worker"))
    if text("ps_count") not in ("", "0"):
        training["parameterServerCount"] = text("ps_count")
        _put(training, "parameterServerType", text("ps_type") or text("master_type"))
    return training


def _accelerator(text: Callable[[str], str], replica: str) -> dict:
    kind = text(f"{replica}_accelerator_type")
    if not kind:
        return {}
    return {"acceleratorConfig": {"count": text(f"{replica}_accelerator_count") or "1", "type": kind}}


def form_from_job(training_input: dict, labels: dict) -> dict[str, str]:
    """The submit form's fields that describe an existing job: job_body_from_form's inverse."""
    t = training_input
    master, worker = t.get("masterConfig") or {}, t.get("workerConfig") or {}
    labels = dict(labels)
    retries, codes = labels.pop(RETRIES_LABEL, ""), labels.pop(FAIL_FAST_LABEL, "")
    return {
        "kind": "container" if master.get("imageUri") else "package",
        "package_uris": "\n".join(t.get("packageUris") or []),
        "python_module": t.get("pythonModule", ""),
        "image_uri": master.get("imageUri", ""),
        "command": shlex.join(master.get("containerCommand") or []),
        "container_args": "\n".join(master.get("containerArgs") or []),
        "runtime": f"{t.get('runtimeVersion', '')}|{t.get('pythonVersion', '')}",
        "scale_tier": t.get("scaleTier") or "BASIC",
        "master_type": t.get("masterType", ""),
        **_accelerator_fields(master, "master"),
        "worker_count": str(t.get("workerCount") or ""),
        "worker_type": t.get("workerType", ""),
        **_accelerator_fields(worker, "worker"),
        "ps_count": str(t.get("parameterServerCount") or ""),
        "ps_type": t.get("parameterServerType", ""),
        "args": "\n".join(t.get("args") or []),
        "job_dir": t.get("jobDir", ""),
        "hyperparameters": json.dumps(t["hyperparameters"], indent=2) if t.get("hyperparameters") else "",
        "labels": "\n".join(f"{key}={value}" for key, value in labels.items()),
        "retries": retries,
        "fail_fast_exit_codes": ", ".join(codes.split("-")) if codes else "",
    }


def _accelerator_fields(config: dict, replica: str) -> dict[str, str]:
    accelerator = config.get("acceleratorConfig") or {}
    return {
        f"{replica}_accelerator_type": accelerator.get("type", ""),
        f"{replica}_accelerator_count": str(accelerator.get("count") or ""),
    }


def form_input(error_field: str | None) -> str:
    """The form input that an error's field (`trainingInput.packageUris[0]`, ...) is about, or ''."""
    path = re.sub(r"\[\d+\]", "", error_field or "")
    while path and path not in FORM_INPUTS:
        path = path.rpartition(".")[0]
    return FORM_INPUTS.get(path, "")


def _put(target: dict, key: str, value) -> None:
    if value:
        target[key] = value


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _items(value: str) -> list[str]:
    """One per line or separated by commas."""
    return [item for item in re.split(r"[\s,]+", value) if item]


def _check_json(form: Mapping[str, str], name: str, field: str) -> None:
    """Refuses a JSON input that does not parse, saying where."""
    try:
        json.loads(form.get(name) or "null")
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        raise ApplicationError(f"is not JSON: {getattr(exc, 'msg', exc)}{where}.", field=field) from None


def _json_or_text(value: str):
    """A JSON field's value; its text as typed when it is not JSON (job_create says why)."""
    try:
        return json.loads(value) if value else None
    except ValueError:
        return value


def _command(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:  # an unclosed quote while typing: split on blanks for now
        return value.split()


def next_job_id(job_id: str, taken: set[str]) -> str:
    """A fresh id for a clone: `mnist_2` for `mnist`, `mnist_3` for `mnist_2`, skipping `taken` ones."""
    match = re.fullmatch(r"(.*?)(?:_(\d{1,3}))?", job_id)
    base, number = match[1], int(match[2] or 1) + 1
    while (candidate := f"{base[: 127 - len(str(number))]}_{number}") in taken:
        number += 1
    return candidate


# --- what a job's page computes ---------------------------------------------------------------


def tf_configs(groups: list[dict], training_input: dict, replicas: list[dict] = ()) -> list[tuple[str, dict]]:
    """TF_CONFIG of each replica, built as the runner (training_app/runtime/trainer.py) builds it.

    Group roles are already TF_CONFIG's task types (training_app.specs names them so). Addresses
    come from the backend's replica rows when they carry one; otherwise they are `role-index:port`
    placeholders, since a replica's host is known only once it runs.
    """
    known = {(r.get("role"), r.get("index")): r["address"] for r in replicas if r.get("address")}

    def address(group: dict, index: int) -> str:
        port = (group.get("ports") or [TF_PORT])[0]
        return known.get((group["role"], index), f"{group['role']}-{index}:{port}")

    cluster = {group["role"]: [address(group, i) for i in range(group.get("count", 1))] for group in groups}
    return [
        (f"{group['role']}-{index}", trainer.tf_config(cluster, group["role"], index, training_input))
        for group in groups
        for index in range(group.get("count", 1))
    ]


def duration(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """`1h 05m`, `4m 09s` or `12s` from start to end (to now while running); '' before a start."""
    if start is None:
        return ""
    hours, rest = divmod(max(int(((end or now) - start).total_seconds()), 0), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


# --- pages ---------------------------------------------------------------------------------


def _can_edit(project, user) -> bool:
    role = project_role(project, user)
    return bool(role and role.allows(Role.EDITOR))


@login_required
def job_list(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    state = request.GET.get("state", "")
    state = state if state in Job.State.values else ""
    kinds = {kind.input_field: kind.title for kind in job_kinds()}
    kind = request.GET.get("kind", "")
    kind = kind if kind in kinds else ""
    filter_text = f"state={state}" if state else ""
    listing = paginate(
        request, jobs_list(project=obj, filter_text=filter_text, kind=kind or None), name_field="job_id"
    )
    jobs = listing.items
    with_queue_positions(job.workload for job in jobs)
    now = timezone.now()
    costs = workload_costs((job.workload for job in jobs), now=now)
    for job in jobs:
        job.duration = duration(job.start_time, job.end_time, now)
        job.kind_title = kinds.get(job.kind, job.kind)
        job.cost = costs[job.workload_id]
    context = {
        "project": obj,
        "jobs": jobs,
        "listing": listing,
        "filters": {"state": state, "kind": kind},
        "state": state,
        "states": Job.State.values,
        "kind": kind,
        "kinds": kinds,
        "can_submit": _can_edit(obj, request.user),
        "polling": any(not job.workload.is_finished for job in jobs),
    }
    fragment = request.GET.get("fragment") == "table"
    return render(request, "training/_job_table.html" if fragment else "training/job_list.html", context)


@login_required
def job_new(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    if request.GET.get("fragment") == "snippet":
        return render(request, "training/_snippet.html", _snippet(request, obj, request.GET))
    error = None
    if request.method == "POST":
        form = request.POST.dict()
        try:
            _check_json(form, "hyperparameters", "trainingInput.hyperparameters")
            job = services.job_create(project=obj, body=job_body_from_form(form), user=request.user)
        except ApplicationError as exc:
            error = form_errors(exc, form_input)
        else:
            messages.success(request, f"Job '{job.job_id}' submitted.")
            return redirect(job)
    else:
        form = _initial_form(obj, request.GET.get("clone", ""))
    context = {
        **_snippet(request, obj, form),
        "form": form,
        "error": error,
        "scale_tiers": _scale_tiers(),
        "runtimes": runtime_versions(),
        "machine_types": MachineType.objects.filter(
            kind__in=[MachineType.Kind.COMPUTE_ENGINE, MachineType.Kind.LEGACY]
        ).select_related("flavor"),
        "accelerators": AcceleratorType.objects.select_related("flavor"),
    }
    return render(request, "training/job_form.html", context, status=400 if error else 200)


def job_dir_for(job_dir: str, old_id: str, new_id: str) -> str:
    """A clone's job directory: one named after the original's id (…/jobs/<id>, the form's
    default) follows the new id, so the clone never writes over the original's output; one the
    user chose otherwise stays as it is."""
    path = job_dir.rstrip("/")
    if path.endswith(f"/{old_id}"):
        return path[: -len(old_id)] + new_id + job_dir[len(path) :]
    return job_dir


def _initial_form(project, clone: str) -> dict[str, str]:
    """A fresh form (a dated job id, the default runtime, the default bucket as job dir), or the
    fields of the job named by `clone` under a new id."""
    taken = set(jobs_list(project=project).values_list("job_id", flat=True))
    if clone:
        job = job_get(project=project, job_id=clone)
        form = form_from_job(job.input, job.labels)
        job_id = next_job_id(job.job_id, taken)
        return {**form, "job_id": job_id, "job_dir": job_dir_for(form.get("job_dir", ""), job.job_id, job_id)}
    job_id = f"job_{timezone.localtime():%Y%m%d_%H%M%S}"
    job_id = next_job_id(job_id, taken) if job_id in taken else job_id
    runtime = RuntimeVersion.objects.filter(is_default=True).first()
    connection = default_connection(project=project)
    bucket = connection.default_uri if connection else None
    return {
        "job_id": job_id,
        "kind": "package",
        "scale_tier": "BASIC",
        "runtime": f"{runtime.runtime_version}|{runtime.python_version}" if runtime else "",
        "job_dir": f"{bucket}jobs/{job_id}" if bucket else "",
    }


def _snippet(request: HttpRequest, project, form: Mapping[str, str]) -> dict:
    body = json.dumps(job_body_from_form(form), indent=4).replace("\n", "\n    ")
    return {"project": project, "body": body, "console_url": console_url(request)}


def _scale_tiers() -> list[tuple[str, str]]:
    described = dict(
        MachineType.objects.filter(kind=MachineType.Kind.SCALE_TIER).values_list("name", "description")
    )
    described["CUSTOM"] = "Choose the machine types and replica counts yourself."
    return [(tier, described.get(tier, "")) for tier in SCALE_TIERS]


@login_required
def job_detail(request: HttpRequest, project: str, job_id: str) -> HttpResponse:
    obj = project_for_view(request, project)
    job = job_get(project=obj, job_id=job_id)
    kind = job_kind(job.kind)
    workload = job.workload
    groups = workload.spec.get("groups", [])
    context = {
        "project": obj,
        "job": job,
        "resource": job_json(job),
        "workload": workload,
        "events": workload.events.all(),
        "groups": groups,
        "replica_names": [(g["role"], i) for g in groups for i in range(g.get("count", 1))],
        "can_edit": _can_edit(obj, request.user),
        "training_input": json.dumps(job.input, indent=2),
        "input_field": job.kind,
        "progress": kind.progress(job) if kind.progress else None,
    }
    spec = job_tuning_spec(job)
    if spec:  # its trials' workloads hold the replicas and logs: each trial's page shows them
        context["tuning"] = trials_page(job, spec)
    fragment = request.GET.get("fragment")
    if fragment in ("logs", None) and not spec:
        context.update(
            replica_log(request, workload), log_download=reverse("training-job-log", args=(project, job_id))
        )
    if fragment == "logs":
        return render(request, "training/_job_logs.html", context)
    context["cost"] = workload_cost(workload=workload)
    if fragment == "status":
        return render(request, "training/_job_status.html", context)
    if job.kind == TRAINING and not spec:
        context["tf_configs"] = [
            (name, json.dumps(config, indent=2))
            for name, config in tf_configs(groups, job.input, workload.replicas)
        ]
    return render(request, "training/job_detail.html", context)


@login_required
def job_log(request: HttpRequest, project: str, job_id: str) -> HttpResponse:
    """A replica's whole log as a file named after the job, for anyone who may see the job."""
    job = job_get(project=project_for_view(request, project), job_id=job_id)
    return log_file(request, job.workload, job.job_id)


@login_required
@require_POST
def job_cancel(request: HttpRequest, project: str, job_id: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    job = job_get(project=obj, job_id=job_id)
    try:
        job = services.job_cancel(job=job, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        ended = job.workload.is_finished
        messages.success(request, f"Job '{job.job_id}' {'cancelled' if ended else 'is being cancelled'}.")
    return redirect(job)
