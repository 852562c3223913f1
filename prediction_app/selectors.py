"""Reads for models and versions: who may do what (one rule for pages, both APIs and `:predict`),
listings with AI Platform's filters, and where a prediction goes."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from mlplatform.compute.models import Workload
from mlplatform.compute.selectors import workload_endpoint
from mlplatform.compute.values import Endpoint
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project, Role
from mlplatform.core.selectors import project_role
from mlplatform.gcp.filtering import field, map_field, parse_filter
from mlplatform.quotas.models import MachineType
from mlplatform.quotas.selectors import Machine, machine_types
from prediction_app.models import Model, Version
from prediction_app.specs import ROLE, serving

# Who may predict: AI Platform gives ml.models.predict to the Developer role (and Admin), not to
# the Viewer; here that is an editor. Viewers see models and versions; editors change them.
PREDICT_ROLE = Role.EDITOR

MODEL_FILTERS = {"name": field("name"), "labels": map_field("labels"), "description": field("description")}


def _version_state(name: str, op: str, value: str) -> Q:
    """`state` is derived (the workload's, the version's failure and deletion): filtered in Python
    terms of the same rule as Version.state."""
    if value not in Version.State.values or op not in ("=", "!="):
        raise ApplicationError(
            f"Filter state with = or != and one of {', '.join(Version.State.values)}.", field="filter"
        )
    failed_workload = Q(workload__isnull=True) | Q(
        workload__state__in=[Workload.State.FAILED, Workload.State.CANCELLED]
    )
    ok = Q(deleting=False, error_message="")
    q = {
        "DELETING": Q(deleting=True),
        "FAILED": Q(deleting=False) & (~Q(error_message="") | failed_workload),
        "READY": ok & Q(workload__state=Workload.State.RUNNING),
        "UPDATING": ok
        & Q(workload__state__in=[Workload.State.QUEUED, Workload.State.ADMITTED, Workload.State.STARTING])
        & Q(retiring_workload__isnull=False),
        "CREATING": ok
        & Q(workload__state__in=[Workload.State.QUEUED, Workload.State.ADMITTED, Workload.State.STARTING])
        & Q(retiring_workload__isnull=True),
    }[value]
    return ~q if op == "!=" else q


VERSION_FILTERS = {
    "name": field("name"),
    "labels": map_field("labels"),
    "state": _version_state,
    "framework": field("framework"),
    "machineType": field("machine_type"),
}


def prediction_allows(*, project: Project, user: AbstractBaseUser, needs: Role) -> bool:
    role = project_role(project, user) if user.is_active else None
    return role is not None and role.allows(needs)


def models_list(*, project: Project, filter_text: str = "") -> QuerySet[Model]:
    return _models().filter(project=project).filter(parse_filter(filter_text, MODEL_FILTERS))


def model_get(*, project: Project, name: str) -> Model:
    """Raises NOT_FOUND in Google's words."""
    model = _models().filter(project=project, name=name).first()
    if model is None:
        raise ApplicationError(
            f"Field: name Error: The model {name} was not found.", code=ErrorCode.NOT_FOUND
        )
    return model


def versions_list(*, model: Model, filter_text: str = "") -> QuerySet[Version]:
    return _versions().filter(model=model).filter(parse_filter(filter_text, VERSION_FILTERS))


def version_get(*, model: Model, name: str) -> Version:
    version = _versions().filter(model=model, name=name).first()
    if version is None:
        raise ApplicationError(
            f"Field: name Error: The version {name} of model {model.name} was not found.",
            code=ErrorCode.NOT_FOUND,
        )
    return version


def version_find(*, project: Project, model: str, name: str) -> Version | None:
    return _versions().filter(model__project=project, model__name=model, name=name).first()


def versions_to_sync() -> QuerySet[Version]:
    """Versions whose lifecycle may move on: waiting to run, replacing a workload, or being deleted."""
    settling = [Workload.State.QUEUED, Workload.State.ADMITTED, Workload.State.STARTING]
    return _versions().filter(
        Q(deleting=True)
        | Q(retiring_workload__isnull=False)
        | Q(error_message="", workload__state__in=settling)
    )


def _models() -> QuerySet[Model]:
    return Model.objects.select_related("project", "default_version")


def _versions() -> QuerySet[Version]:
    return Version.objects.select_related(
        "model", "model__project", "model__default_version", "workload", "retiring_workload"
    )


# --- where a prediction goes --------------------------------------------------------------------


@dataclass(frozen=True)
class PredictRoute:
    """Where `:predict` sends one caller's requests for one model or version: the replica's endpoint
    and path, and the version it serves (for its use counts); else why it cannot (`refusal`, a
    Google error)."""

    version_id: int | None = None
    upstream: Endpoint | None = None
    target: str = ""
    refusal: tuple[ErrorCode, str] | None = None
    logged: bool = False  # the model's onlinePredictionLogging: each call gets an access log line


def predict_route(
    *, project: str, model: str, version: str | None, user: AbstractBaseUser
) -> PredictRoute | None:
    """The route for `user` to `project/model[/version]`, or None for a caller who may not see the
    project (the gateway answers 404, as for a model that does not exist)."""
    obj = Project.objects.filter(slug=project).first()
    if obj is None or not prediction_allows(project=obj, user=user, needs=Role.VIEWER):
        return None
    if not prediction_allows(project=obj, user=user, needs=PREDICT_ROLE):
        return PredictRoute(
            refusal=(ErrorCode.PERMISSION_DENIED, f"Permission 'ml.models.predict' denied on '{project}'.")
        )
    row = _models().filter(project=obj, name=model).first()
    if row is None:
        return PredictRoute(
            refusal=(ErrorCode.NOT_FOUND, f"Field: name Error: The model {model} was not found.")
        )
    if version is None:
        if row.default_version_id is None:
            message = f"Field: name Error: The model {model} has no default version."
            return PredictRoute(refusal=(ErrorCode.FAILED_PRECONDITION, message))
        target = _versions().get(pk=row.default_version_id)
    else:
        target = _versions().filter(model=row, name=version).first()
        if target is None:
            message = f"Field: name Error: The version {version} of model {model} was not found."
            return PredictRoute(refusal=(ErrorCode.NOT_FOUND, message))
    workload = target.serving_workload
    if workload is None:
        message = f"Version {target.name} is {target.state}: it cannot serve predictions now."
        return PredictRoute(refusal=(ErrorCode.FAILED_PRECONDITION, message))
    where = version_serving(target)
    upstream = workload_endpoint(workload=workload, role=ROLE, port=where.port)
    if upstream is None:
        return PredictRoute(refusal=(ErrorCode.UNAVAILABLE, f"Version {target.name} has no address yet."))
    return PredictRoute(
        version_id=target.pk,
        upstream=upstream,
        target=where.predict_route,
        logged=row.online_prediction_logging,
    )


def version_serving(version: Version):
    container = version.container or None
    routes = version.routes or {}
    ports = (container or {}).get("ports") or [{}]
    return serving(
        model=version.model.name,
        version=version.name,
        custom=container is not None,
        port=ports[0].get("containerPort"),
        predict=routes.get("predict", ""),
        health=routes.get("health", ""),
    )


# AI Platform Prediction serves on its mls1 types and Compute Engine ones, not on training's others.
SERVING_KINDS = (MachineType.Kind.PREDICTION, MachineType.Kind.COMPUTE_ENGINE)


def serving_machines() -> dict[str, Machine]:
    """The catalog's machine types a version may name, by name."""
    return {name: m for name, m in sorted(machine_types().items()) if m.kind in SERVING_KINDS}
