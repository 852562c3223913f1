"""Writes for models and versions, and the lifecycle of a version.

A version's create queues a service workload (prediction_app.specs) and answers a CREATE_VERSION
operation. The version is CREATING until every replica of its workload is ready (READY), and FAILED
when the predictor cannot load the model: it exits with code 3 after a last line "Bad model
detected with error: ...", which services restart forever, so the sync (versions_sync, in Celery
beat and on every read of an operation) reads the line from the log, records it and cancels the
workload, which frees its quota. A patch of the scaling starts a new workload; the old one serves
until the new one runs. A delete cancels the workloads and removes the row once they ended.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from mlplatform.compute.models import Workload
from mlplatform.compute.selectors import default_backend_runs_images, workload_log_tail
from mlplatform.compute.services import workload_cancel, workload_submit
from mlplatform.compute.spec import Resources, WorkloadSpec, spec_from_dict
from mlplatform.core.errors import ApplicationError, ErrorCode, Refusals
from mlplatform.core.models import Project
from mlplatform.gcp import proto
from mlplatform.gcp import services as operations
from mlplatform.gcp.fieldmask import parse_update_mask
from mlplatform.gcp.labels import labels_checked
from mlplatform.gcp.models import Operation
from mlplatform.quotas.models import MachineType
from mlplatform.quotas.selectors import accelerator_flavors, machine_types
from mlplatform.storage.selectors import connection_for_uri, objects_list
from mlplatform.storage.uris import parse_uri
from prediction_app import selectors
from prediction_app.bodies import DEFAULT_MACHINE_TYPE, model_json, version_json
from prediction_app.inputs import (
    Scaling,
    V,
    VersionInput,
    name_checked,
    scaling_from_json,
    version_input_from_json,
)
from prediction_app.models import Model, Version, VersionTraffic
from prediction_app.specs import BAD_MODEL_EXIT_CODE, BAD_MODEL_MARK, ROLE, version_spec

logger = logging.getLogger(__name__)

MODEL_FIELDS = {"name", "description", "labels", "regions", "onlinePredictionLogging"}
MODEL_FIELDS |= {"onlinePredictionConsoleLogging", "etag", "defaultVersion"}
MODEL_PATCHABLE = {"description", "defaultVersion.name", "labels"}
VERSION_PATCHABLE = {"description", "autoScaling.minNodes", "manualScaling.nodes", "labels"}
DEFAULT_SHAPE = Resources(flavor="cpu", cpu=1, memory_gib=2)  # mls1-c1-m2 where the catalog lacks it
MODEL_FILES = {  # what the predictor loads, per framework (any one of them)
    "SCIKIT_LEARN": ("model.joblib", "model.pkl"),
    "XGBOOST": ("model.bst", "model.json", "model.ubj", "model.joblib", "model.pkl"),
    "TENSORFLOW": ("saved_model.pb", "saved_model.pbtxt"),
}
API = "type.googleapis.com/google.cloud.ml.v1"
LOG_LINES = 50
VERSION_TARGET = re.compile(r"^projects/[^/]+/models/([^/]+)/versions/([^/]+)\Z")


# --- models ---------------------------------------------------------------------------------------


def model_create(*, project: Project, body, user) -> Model:
    """projects.models.create (synchronous). Refuses a bad or taken name, and more than one region."""
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be a Model object.", field="model")
    proto.check_fields(body, MODEL_FIELDS, type_name="Model", path="model")
    name = name_checked(body.get("name"), field="model.name", what="Model")
    regions = proto.strings(body.get("regions"), field="model.regions")
    if len(regions) > 1:
        raise ApplicationError("Only one region per model is supported.", field="model.regions")
    if Model.objects.filter(project=project, name=name).exists():
        raise _model_exists(name)
    try:
        with transaction.atomic():
            return Model.objects.create(
                project=project,
                name=name,
                description=proto.string(body.get("description"), field="model.description"),
                labels=labels_checked(body.get("labels") or {}),
                regions=list(regions) or [settings.PLATFORM_LOCATIONS[0]],
                online_prediction_logging=proto.boolean(
                    body.get("onlinePredictionLogging"), field="model.onlinePredictionLogging"
                ),
                online_prediction_console_logging=proto.boolean(
                    body.get("onlinePredictionConsoleLogging"), field="model.onlinePredictionConsoleLogging"
                ),
                created_by=user,
            )
    except IntegrityError:  # the same name at the same moment
        raise _model_exists(name) from None


def model_patch(*, model: Model, body, update_mask: str) -> Operation:
    """projects.models.patch: description, labels and defaultVersion.name; an UPDATE_MODEL
    operation, done at once."""
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be a Model object.", field="model")
    paths = parse_update_mask(update_mask, allowed=MODEL_PATCHABLE)
    _check_etag(body, model_json(model)["etag"], "model")
    with transaction.atomic():
        model = Model.objects.select_for_update().select_related("project").get(pk=model.pk)
        if "description" in paths:
            model.description = proto.string(body.get("description"), field="model.description")
        if "labels" in paths:
            model.labels = labels_checked(body.get("labels") or {})
        if "defaultVersion.name" in paths:
            default = proto.message(body.get("defaultVersion"), field="model.defaultVersion")
            name = str(default.get("name", "")).rsplit("/", 1)[-1]
            model.default_version = selectors.version_get(model=model, name=name)
        model.save()
        return _done(
            model, "UPDATE_MODEL", model.resource_name, {"@type": f"{API}.Model", **model_json(model)}
        )


def model_delete(*, model: Model) -> Operation:
    """projects.models.delete: a DELETE_MODEL operation, done at once; refused while it has versions."""
    with transaction.atomic():
        model = Model.objects.select_for_update().select_related("project").get(pk=model.pk)
        if model.versions.exists():
            raise ApplicationError(
                f"A model with versions cannot be deleted. Delete the versions of {model.name} first.",
                code=ErrorCode.FAILED_PRECONDITION,
            )
        operation = _done(
            model, "DELETE_MODEL", model.resource_name, {"@type": "type.googleapis.com/google.protobuf.Empty"}
        )
        model.delete()
    return operation


# --- versions -------------------------------------------------------------------------------------


def version_create(*, model: Model, body, user) -> Operation:
    """projects.models.versions.create: check the body against the catalog and what the project
    reaches, queue its workload and answer a CREATE_VERSION operation. The model's first version
    becomes its default. Raises ApplicationError naming the field; nothing is written then."""
    request = version_input_from_json(body)
    refusals = Refusals()
    if Version.objects.filter(model=model, name=request.name).exists():
        refusals.errors.append(_version_exists(model, request.name))
    if request.container is not None and not default_backend_runs_images():
        refusals.refuse(
            "The local backend runs the platform's predictor; custom containers need the Kubernetes backend.",
            field=f"{V}.container",
        )
    storage = tuple(
        sorted({refusals.check(_reachable, model.project, uri, field) for field, uri in request.uris})
    )
    if request.container is None and f"{V}.deploymentUri" not in {e.field for e in refusals.errors}:
        refusals.check(_check_model_files, model.project, request)
    resources = refusals.check(_resources, request)
    refusals.raise_any()
    spec = version_spec(
        request,
        model=model.name,
        resources=resources,
        image=settings.PREDICTOR_IMAGE,
        storage=storage,
    )
    try:
        with transaction.atomic():
            model = Model.objects.select_for_update().select_related("project").get(pk=model.pk)
            workload = _submit(model.project, spec, user)
            version = Version.objects.create(
                model=model, workload=workload, created_by=user, **_fields(request)
            )
            if model.default_version_id is None:
                model.default_version = version
                model.save(update_fields=["default_version", "update_time"])
            version.model = model
            return _operation(version, "CREATE_VERSION")
    except IntegrityError:
        raise _version_exists(model, request.name) from None


def version_patch(*, version: Version, body, update_mask: str, user) -> Operation:
    """projects.models.versions.patch: description and labels at once; a new node count starts a
    workload of the new size, and the UPDATE_VERSION operation ends when it runs."""
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be a Version object.", field=V)
    paths = parse_update_mask(update_mask, allowed=VERSION_PATCHABLE)
    _check_etag(body, version_json(version)["etag"], "version")
    with transaction.atomic():
        version = _locked(version.pk)
        if "description" in paths:
            version.description = proto.string(body.get("description"), field=f"{V}.description")
        if "labels" in paths:
            version.labels = labels_checked(body.get("labels") or {})
        rescaled = {"autoScaling.minNodes", "manualScaling.nodes"} & set(paths)
        if rescaled:
            _rescale(version, body, rescaled, user)
        version.save()
        if not rescaled:
            return _done(version.model, "UPDATE_VERSION", version.resource_name, _response(version))
        return _operation(version, "UPDATE_VERSION")


def version_delete(*, version: Version, user) -> Operation:
    """projects.models.versions.delete: stop its workloads; the row goes once they ended (the
    DELETE_VERSION operation is done then). The default version goes only as the last one."""
    with transaction.atomic():
        version = _locked(version.pk)
        model = version.model
        if version.is_default and model.versions.exclude(pk=version.pk).exists():
            raise ApplicationError(
                "Cannot delete the default version; make another version the default first "
                "(versions.setDefault).",
                code=ErrorCode.FAILED_PRECONDITION,
            )
        if not version.deleting:
            version.deleting = True
            version.save(update_fields=["deleting", "update_time"])
            _cancel_all(version, user, "its version was deleted")
        if version.is_default:
            Model.objects.filter(pk=model.pk).update(default_version=None)
        operation = _operation(version, "DELETE_VERSION")
    version_sync(version_id=version.pk)  # a version that never started goes at once
    return Operation.objects.get(pk=operation.pk)


def version_set_default(*, version: Version) -> Version:
    """projects.models.versions.setDefault (synchronous)."""
    if version.deleting:
        raise ApplicationError(
            f"Version {version.name} is being deleted.", code=ErrorCode.FAILED_PRECONDITION
        )
    with transaction.atomic():
        model = Model.objects.select_for_update().get(pk=version.model_id)
        model.default_version = version
        model.save(update_fields=["default_version", "update_time"])
    return selectors.version_get(model=model, name=version.name)


# --- the lifecycle --------------------------------------------------------------------------------


def versions_sync() -> int:
    """Move every version on whose workloads changed; returns how many it looked at. Safe to run
    twice at once: each version is handled under its row lock."""
    ids = list(selectors.versions_to_sync().values_list("pk", flat=True))
    for pk in ids:
        try:
            version_sync(version_id=pk)
        except Exception:  # one version's trouble (its backend) must not stop the others
            logger.exception("Syncing version %s failed", pk)
    return len(ids)


def version_sync(*, version_id: int) -> None:
    """One version: a model that cannot load fails it; a new workload that runs retires the old; a
    deleted version goes once its workloads ended; then its operations catch up."""
    with transaction.atomic():
        version = _versions_locked().filter(pk=version_id).first()
        if version is None:
            return
        target = version.resource_name
        if version.deleting:
            if _ended(version.workload) and _ended(version.retiring_workload):
                version.delete()
        else:
            _follow(version)
    for operation in Operation.objects.filter(target=target, done=False).select_related("project"):
        operation_refresh(operation)


def _follow(version: Version) -> None:
    workload, retiring = version.workload, version.retiring_workload
    if workload is not None and not version.error_message:
        line = _bad_model_line(workload)
        if line:
            version.error_message = f"Create Version failed. {line}"
            version.save(update_fields=["error_message", "update_time"])
            workload_cancel(workload=workload, reason="its model cannot be loaded")
    if retiring is None:
        return
    if workload is not None and workload.state == Workload.State.RUNNING and not version.error_message:
        workload_cancel(workload=retiring, reason="a new version of its shape runs")
        version.retiring_workload = None
    elif version.error_message or workload is None or workload.is_finished:
        # The new shape failed: the old workload goes on serving, as the version did before.
        if workload is not None and not workload.is_finished and workload.state != Workload.State.CANCELLING:
            workload_cancel(workload=workload, reason="the update failed")
        version.workload, version.retiring_workload, version.error_message = retiring, None, ""
    version.save()


def _bad_model_line(workload: Workload) -> str:
    """The predictor's "Bad model detected with error: ..." where a replica exited with code 3 (a
    service restarts it, so an exit shows as a restart or an exit code), else ''."""
    if workload.state not in Workload.ON_BACKEND:
        return ""
    code = f"exit code {BAD_MODEL_EXIT_CODE}"
    for replica in workload.replicas:
        exited = replica.get("exit_code") == BAD_MODEL_EXIT_CODE or code in (replica.get("message") or "")
        if not (exited or replica.get("restarts")):
            continue
        lines = (
            workload_log_tail(workload=workload, role=ROLE, index=replica.get("index", 0), lines=LOG_LINES)
            or []
        )
        for line in reversed(lines):
            if BAD_MODEL_MARK in line:
                return line[line.index(BAD_MODEL_MARK) :].strip()
    return ""


# --- operations -------------------------------------------------------------------------------------


def operation_refresh(operation: Operation) -> Operation:
    """Finish a version operation whose version got where it was going, or failed on the way."""
    names = _target_names(operation.target)
    if operation.done or names is None:  # not a version's (rows made elsewhere): as stored
        return operation
    model, name = names
    version = selectors.version_find(project=operation.project, model=model, name=name)
    kind = operation.operation_type
    if version is None:
        if kind == "DELETE_VERSION":
            return operations.operation_finish(
                operation_id=operation.pk, response={"@type": "type.googleapis.com/google.protobuf.Empty"}
            )
        return _failed(operation, ErrorCode.ABORTED, f"Version {name} was deleted.")
    state = version.state
    if kind not in ("CREATE_VERSION", "UPDATE_VERSION"):
        return operation
    if state == Version.State.READY:
        return operations.operation_finish(operation_id=operation.pk, response=_response(version))
    if state == Version.State.FAILED:
        return _failed(operation, ErrorCode.INVALID_ARGUMENT, version.failure)
    if state == Version.State.DELETING:
        return _failed(operation, ErrorCode.ABORTED, f"Version {name} is being deleted.")
    return operation


def operation_cancel(operation: Operation, *, user) -> Operation:
    """operations.cancel, best effort as Google's: a pending create stops the version's workload
    (its quota is free again) and leaves the version FAILED; other verbs only note the request.
    A done operation is FAILED_PRECONDITION."""
    operation = operation_refresh(operation)
    names = _target_names(operation.target)
    if operation.done or names is None:
        return operations.operation_cancel(operation=operation)
    with transaction.atomic():
        version = selectors.version_find(project=operation.project, model=names[0], name=names[1])
        stoppable = operation.operation_type == "CREATE_VERSION" and version is not None
        if stoppable:
            version = _locked(version.pk)
            version.error_message = "Create Version failed. The operation was cancelled."
            version.save(update_fields=["error_message", "update_time"])
            if not _ended(version.workload):
                workload_cancel(
                    workload=version.workload, actor=user, reason="its create operation was cancelled"
                )
        return operations.operation_cancel(operation=operation, stopped=stoppable)


# --- use --------------------------------------------------------------------------------------------


def versions_record_use(*, uses: Mapping[int, tuple[datetime, int, int, float]]) -> None:
    """What the `:predict` gateway counted since its last flush, per version: (last use, requests,
    errors, milliseconds spent): lastUseTime and the minute's traffic row, one write each."""
    for version_id, (last_use, requests, errors, milliseconds) in uses.items():
        if not Version.objects.filter(pk=version_id).update(last_use_time=last_use):
            continue  # deleted since it was counted: nothing to record it on
        minute = last_use.replace(second=0, microsecond=0)
        row, created = VersionTraffic.objects.get_or_create(
            version_id=version_id,
            minute=minute,
            defaults={"requests": requests, "errors": errors, "milliseconds": milliseconds},
        )
        if not created:
            VersionTraffic.objects.filter(pk=row.pk).update(
                requests=F("requests") + requests,
                errors=F("errors") + errors,
                milliseconds=F("milliseconds") + milliseconds,
            )


# --- helpers ----------------------------------------------------------------------------------------


def _fields(request: VersionInput) -> dict:
    scaling = request.scaling
    container = request.container
    return {
        "name": request.name,
        "description": request.description,
        "deployment_uri": request.deployment_uri,
        "runtime_version": request.runtime_version,
        "python_version": request.python_version,
        "framework": request.framework,
        "machine_type": request.machine_type,
        "accelerator_config": (
            {"type": request.accelerator.type, "count": str(request.accelerator.count)}
            if request.accelerator
            else {}
        ),
        "auto_scaling": _auto_json(scaling) if scaling.auto else None,
        "manual_scaling": None if scaling.auto else {"nodes": scaling.min_nodes},
        "prediction_class": request.prediction_class,
        "package_uris": list(request.package_uris),
        "container": (
            {
                "image": container.image,
                "command": list(container.command),
                "args": list(container.args),
                "env": [{"name": name, "value": value} for name, value in container.env],
                "ports": [{"containerPort": container.port}] if container.port else [],
            }
            if container
            else None
        ),
        "routes": (
            {
                key: value
                for key, value in (("predict", request.predict_route), ("health", request.health_route))
                if value
            }
            or None
        ),
        "labels": request.labels,
        "max_batch_size": request.max_batch_size,
        "max_batch_time_ms": request.max_batch_time_ms,
    }


def _auto_json(scaling) -> dict:
    return {"minNodes": scaling.min_nodes, **({"maxNodes": scaling.max_nodes} if scaling.max_nodes else {})}


def _resources(request: VersionInput) -> Resources:
    """The replica's shape from the catalog: the machine type (AI Platform's default without one),
    with the accelerators its acceleratorConfig names mapped to their flavor."""
    name = request.machine_type or DEFAULT_MACHINE_TYPE
    machine = machine_types(names=[name]).get(name)
    field = f"{V}.machineType"
    if machine is None and not request.machine_type:
        shape = DEFAULT_SHAPE
    elif machine is None or machine.kind not in selectors.SERVING_KINDS:
        offered = ", ".join(selectors.serving_machines())
        raise ApplicationError(f"'{name}' is not a machine type offered here ({offered}).", field=field)
    else:
        shape = Resources(
            flavor=machine.flavor, gpus=machine.gpus, cpu=machine.vcpus, memory_gib=machine.memory_gib
        )
    accelerator = request.accelerator
    if accelerator is None:
        return shape
    path = f"{V}.acceleratorConfig"
    flavor = accelerator_flavors(names=[accelerator.type]).get(accelerator.type)
    if flavor is None:
        offered = ", ".join(accelerator_flavors())
        raise ApplicationError(
            f"'{accelerator.type}' is not an accelerator type offered here ({offered}).", field=f"{path}.type"
        )
    if machine is None or machine.kind != MachineType.Kind.COMPUTE_ENGINE:
        raise ApplicationError(
            "GPUs need a Compute Engine machine type such as n1-standard-4.", field=f"{V}.machineType"
        )
    if machine.gpus and (flavor != machine.flavor or accelerator.count != machine.gpus):
        raise ApplicationError(
            f"'{name}' is built with {machine.gpus} GPU(s) of flavor {machine.flavor}: ask for exactly "
            "those, or leave acceleratorConfig out.",
            field=path,
        )
    return Resources(flavor=flavor, gpus=accelerator.count, cpu=shape.cpu, memory_gib=shape.memory_gib)


def _reachable(project: Project, uri: str, field: str) -> str:
    """The name of the project's connection to the URI's bucket; AI Platform answers a bucket it
    cannot read with INVALID_ARGUMENT on the field, so storage's 403 becomes that."""
    try:
        return connection_for_uri(project=project, uri=parse_uri(uri, field=field)).name
    except ApplicationError as exc:
        raise ApplicationError(exc.message, field=field) from exc


def _check_model_files(project: Project, request: VersionInput) -> None:
    """The deploymentUri must hold a model the predictor can load (of the framework, when named)."""
    field = f"{V}.deploymentUri"
    uri = request.deployment_uri.rstrip("/") + "/"
    try:
        names = {
            o.key.rsplit("/", 1)[-1]
            for o in objects_list(project=project, uri=parse_uri(uri, field=field)).objects
        }
    except ApplicationError as exc:
        raise ApplicationError(exc.message, field=field) from exc
    wanted = MODEL_FILES.get(request.framework) or tuple(f for files in MODEL_FILES.values() for f in files)
    if request.prediction_class:
        return  # a routine's from_path reads what it wants
    if not names & set(wanted):
        raise ApplicationError(
            f"Create Version failed. Model files not found at {request.deployment_uri}: expected one of "
            f"{', '.join(wanted)}.",
            field=field,
        )


def _rescale(version: Version, body: dict, paths: set[str], user) -> None:
    if version.state not in (Version.State.READY, Version.State.CREATING):
        raise ApplicationError(
            f"Version {version.name} is {version.state}: its nodes cannot change now.",
            code=ErrorCode.FAILED_PRECONDITION,
        )
    auto = version.auto_scaling is not None
    if ("autoScaling.minNodes" in paths) != auto:
        kind = "autoScaling" if auto else "manualScaling"
        raise ApplicationError(f"This version uses {kind}.", field="updateMask")
    if auto:
        given = proto.message(body.get("autoScaling"), field=f"{V}.autoScaling")
        scaling = scaling_from_json({**version.auto_scaling, "minNodes": given.get("minNodes", 0)}, None)
        version.auto_scaling = _auto_json(scaling)
    else:
        scaling = scaling_from_json(
            None, proto.message(body.get("manualScaling"), field=f"{V}.manualScaling")
        )
        version.manual_scaling = {"nodes": scaling.min_nodes}
    spec = version_spec_of(version, scaling)
    if version.retiring_workload is not None:  # a rescale while one is under way replaces it
        workload_cancel(workload=version.workload, actor=user, reason="its version was rescaled again")
    else:
        version.retiring_workload = version.workload
    version.workload = _submit(version.model.project, spec, user)


def version_spec_of(version: Version, scaling: Scaling) -> WorkloadSpec:
    """The spec of an existing version with another node count: its workload's, re-counted."""
    spec = spec_from_dict(version.workload.spec)
    group = replace(
        spec.groups[0], count=scaling.min_nodes, max_count=scaling.max_nodes if scaling.auto else None
    )
    return replace(spec, groups=(group,))


def _submit(project: Project, spec, user) -> Workload:
    try:
        return workload_submit(project=project, spec=spec, owner=user)
    except ApplicationError as exc:
        if exc.field and not exc.field.startswith(V):
            exc.field = V
        raise


def _cancel_all(version: Version, user, reason: str) -> None:
    for workload in (version.workload, version.retiring_workload):
        if not _ended(workload) and workload.state != Workload.State.CANCELLING:
            workload_cancel(workload=workload, actor=user, reason=reason)


def _ended(workload: Workload | None) -> bool:
    return workload is None or workload.is_finished


def _versions_locked():
    return Version.objects.select_for_update(of=("self",)).select_related(
        "model", "model__project", "workload", "retiring_workload"
    )


def _locked(version_id: int) -> Version:
    return _versions_locked().get(pk=version_id)


def _operation(version: Version, kind: str) -> Operation:
    return operations.operation_create(
        project=version.model.project,
        operation_type=kind,
        target=version.resource_name,
        metadata={"modelName": version.model.resource_name, "version": version_json(version)},
    )


def _done(model: Model, kind: str, target: str, response: dict) -> Operation:
    operation = operations.operation_create(
        project=model.project, operation_type=kind, target=target, metadata={"modelName": model.resource_name}
    )
    return operations.operation_finish(operation_id=operation.pk, response=response)


def _response(version: Version) -> dict:
    return {"@type": f"{API}.Version", **version_json(version)}


def _failed(operation: Operation, code: ErrorCode, message: str) -> Operation:
    return operations.operation_finish(
        operation_id=operation.pk, error={"code": code.rpc_code, "message": message}
    )


def _target_names(target: str) -> tuple[str, str] | None:
    """(model, version) of `projects/p/models/m/versions/v`; None for another target."""
    match = VERSION_TARGET.match(target)
    return match.groups() if match else None


def _check_etag(body: dict, current: str, what: str) -> None:
    if body.get("etag") and body["etag"] != current:
        raise ApplicationError(
            f"The {what} changed since it was read (etag mismatch); read it again.", code=ErrorCode.ABORTED
        )


def _model_exists(name: str) -> ApplicationError:
    return ApplicationError(
        f"A model with the same name already exists: {name}.",
        code=ErrorCode.ALREADY_EXISTS,
        field="model.name",
    )


def _version_exists(model: Model, name: str) -> ApplicationError:
    return ApplicationError(
        f"A version with the same name already exists: {name}.",
        code=ErrorCode.ALREADY_EXISTS,
        field=f"{V}.name",
    )
