"""Vertex AI Workbench (`notebooks v2`) on notebooks: Instance bodies, and their long-running operations.

An Instance is a notebook seen through Google's schema. `gceSetup` chooses the shape: a machine
type (a catalog one such as n1-standard-8 or a2-highgpu-1g, or `custom-{vCPUs}-{MiB}`), at most one
accelerator config (type mapped to a flavor in admin, `coreCount` GPUs), a container image of the
catalog (the default without one) and at most one data disk (the home volume). What would change
behaviour and is not supported here is refused with a reason; other optional fields are ignored.

An instance lives in the location it was created in (the notebook's `location`) and is found
only there. Create, start, stop, reset and delete answer an Operation that is done when the
notebook gets there (ACTIVE, STOPPED, gone) or fails; it is brought up to date whenever it is read.
Patch changes labels at any time and the shape of a stopped instance, and is done at once.
Cancelling a pending create or start stops the notebook; other verbs cannot stop part-way.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.db import transaction

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.gcp import proto
from mlplatform.gcp import services as operations
from mlplatform.gcp.fieldmask import parse_update_mask
from mlplatform.gcp.labels import labels_checked
from mlplatform.gcp.models import Operation
from mlplatform.gcp.proto import timestamp
from mlplatform.quotas.models import AcceleratorType, MachineType
from mlplatform.quotas.selectors import accelerator_flavors, machine_types
from notebooks_app import selectors, services
from notebooks_app.models import Notebook, NotebookImage

API = "type.googleapis.com/google.cloud.notebooks.v2"
INSTANCE_ID = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
CUSTOM_MACHINE = re.compile(r"^custom-(\d{1,4})-(\d{1,7})\Z")  # Compute Engine's custom-{vCPUs}-{MiB}
STATES = {  # a notebook's state as Workbench names it; waiting for quota is provisioning
    "QUEUED": "PROVISIONING",
    "PROVISIONING": "PROVISIONING",
    "STARTING": "STARTING",
    "ACTIVE": "ACTIVE",
    "STOPPING": "STOPPING",
    "STOPPED": "STOPPED",
    "FAILED": "STOPPED",  # with healthState UNHEALTHY and the reason
    "DELETING": "DELETED",
}
INSTANCE_FIELDS = {"gceSetup", "labels", "instanceOwners", "disableProxyAccess", "enableDeletionProtection"}
INSTANCE_FIELDS |= {"enableThirdPartyIdentity", "enableManagedEuc"}
OUTPUT_ONLY = {"name", "id", "proxyUri", "state", "creator", "createTime", "updateTime", "healthState"}
OUTPUT_ONLY |= {"healthInfo", "upgradeHistory", "satisfiesPzs", "satisfiesPzi", "thirdPartyProxyUrl"}
PATCHABLE = {"labels", "gceSetup.machineType", "gceSetup.acceleratorConfigs", "gceSetup.containerImage"}
ACCELERATOR = "gceSetup.acceleratorConfigs[0]"  # the one accelerator config an instance may have
CPU_FLAVOR = "cpu"  # the catalog's flavor without GPUs, notebook_create's default
CANCELLABLE = {"create", "start"}  # stopping the notebook undoes them; the others cannot stop part-way
UNSUPPORTED_TRUE = {
    "disableProxyAccess": "notebooks are reached only through the console's proxy",
    "enableDeletionProtection": "deletion protection is not supported; deleting needs a confirmation",
    "enableThirdPartyIdentity": "third-party identity is not supported",
    "enableManagedEuc": "end-user credentials are not supported",
}


def instance_name(notebook: Notebook) -> str:
    return f"projects/{notebook.project.slug}/locations/{notebook.location}/instances/{notebook.name}"


def instance_get(*, project: Project, location: str, instance_id: str) -> Notebook:
    """The instance `instance_id` of `location`. Raises NOT_FOUND, also for one of another location."""
    notebook = selectors.notebook_get(project=project, name=instance_id)
    if notebook.location != location:
        raise ApplicationError(f"Notebook '{instance_id}' was not found.", code=ErrorCode.NOT_FOUND)
    return notebook


def instance_json(notebook: Notebook, console_url: str) -> dict:
    state = notebook.state
    repository, tag = _split_image(notebook.image.image)
    setup: dict = {
        "machineType": _machine_type(notebook.cpu, notebook.memory_gib),
        "containerImage": {"repository": repository, **({"tag": tag} if tag else {})},
        "dataDisks": [{"diskSizeGb": str(notebook.home_size_gib)}],
    }
    accelerator = AcceleratorType.objects.filter(flavor=notebook.flavor).order_by("name").first()
    if notebook.gpus and accelerator is not None:
        setup["acceleratorConfigs"] = [{"type": accelerator.name, "coreCount": str(notebook.gpus)}]
    body = {
        "name": instance_name(notebook),
        "id": str(notebook.pk),
        "proxyUri": f"{console_url}{notebook.proxy_path}",
        "state": STATES[state],
        "healthState": {"ACTIVE": "HEALTHY", "FAILED": "UNHEALTHY"}.get(state, "HEALTH_STATE_UNSPECIFIED"),
        "gceSetup": setup,
        "creator": getattr(notebook.owner, "email", "") or getattr(notebook.owner, "username", ""),
        "labels": notebook.labels,
        "createTime": timestamp(notebook.created_at),
        "updateTime": timestamp(notebook.updated_at),
    }
    if notebook.reason:  # why it waits for quota, or why it failed
        body["healthInfo"] = {"state": state, "reason": notebook.reason}
    return {key: value for key, value in body.items() if value not in ("", None)}


# --- writes -----------------------------------------------------------------------------------


def instance_create(*, project: Project, location: str, instance_id: str, body: dict, user) -> Operation:
    """instances.create: a notebook shaped by `gceSetup`, started at once; refuses what it cannot honour."""
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be an Instance object.", field="instance")
    if not INSTANCE_ID.match(instance_id or ""):
        raise ApplicationError(
            "must start with a lowercase letter and have at most 63 lowercase letters, digits and '-'.",
            field="instanceId",
        )
    proto.check_fields(body, INSTANCE_FIELDS | OUTPUT_ONLY, type_name="Instance")
    for field, reason in UNSUPPORTED_TRUE.items():
        if body.get(field):
            raise ApplicationError(reason, field=field)
    shape = _shape(body.get("gceSetup"))
    with transaction.atomic():
        notebook = services.notebook_create(
            project=project, owner=user, name=instance_id, location=location, **shape
        )
        notebook.labels = labels_checked(body.get("labels") or {})
        notebook.save(update_fields=["labels"])
        return _operation(notebook, "create")


def instance_act(*, notebook: Notebook, verb: str, user) -> Operation:
    """instances.start, stop, reset and delete (which deletes the home volume: Google's delete
    removes the instance's disks too)."""
    act = {
        "start": lambda: services.notebook_start(notebook=notebook, actor=user),
        "stop": lambda: services.notebook_stop(notebook=notebook, actor=user),
        "reset": lambda: services.notebook_reset(notebook=notebook, actor=user),
        "delete": lambda: services.notebook_delete(notebook=notebook, actor=user, confirm=True),
    }[verb]
    with transaction.atomic():
        previous = notebook.workload_id
        return _operation(act(), verb, previous_workload=previous)


def instance_patch(*, notebook: Notebook, update_mask: str | None, body: dict, console_url: str) -> Operation:
    """instances.patch: the `updateMask` paths of PATCHABLE (in camelCase or snake_case), from `body`;
    labels at any time, the shape (gceSetup) only while the instance is stopped (FAILED_PRECONDITION
    otherwise). A path outside PATCHABLE, or none, is INVALID_ARGUMENT. Done at once."""
    if not isinstance(body, dict):
        raise ApplicationError("The request body must be an Instance object.", field="instance")
    paths = parse_update_mask(",".join(map(_camel_case, (update_mask or "").split(","))), allowed=PATCHABLE)
    setup = proto.message(body.get("gceSetup"), field="gceSetup")
    fields = {path.removeprefix("gceSetup.") for path in paths if path.startswith("gceSetup.")}
    shape = _patched_shape(notebook, {field: setup.get(field) for field in fields})
    labels = labels_checked(body.get("labels") or {}) if "labels" in paths else None
    if shape and not notebook.is_stopped:
        changed = ", ".join(sorted(f"gceSetup.{field}" for field in fields))
        state = STATES[notebook.state]
        raise ApplicationError(
            f"Instance '{notebook.name}' is {state}: stop the instance first to change {changed}.",
            code=ErrorCode.FAILED_PRECONDITION,
        )
    with transaction.atomic():
        if shape:
            notebook = services.notebook_update(notebook=notebook, **shape)
        if labels is not None:
            notebook.labels = labels
            notebook.save(update_fields=["labels", "updated_at"])
        return _succeeded(_operation(notebook, "update"), notebook, console_url)


def operation_cancel(*, operation: Operation, user, console_url: str) -> Operation:
    """operations.cancel, best effort as Google's: a pending create or start stops the notebook and
    ends CANCELLED; other pending verbs only note the request and end as they would have; a done
    operation stays as it is."""
    operation = operation_refresh(operation, console_url)  # it may have got there meanwhile
    if operation.done:
        return operation
    with transaction.atomic():
        notebook = _target(operation)
        stoppable = operation.operation_type in CANCELLABLE and notebook is not None
        if stoppable:
            reason = f"its {operation.operation_type} operation was cancelled"
            services.notebook_stop(notebook=notebook, actor=user, reason=reason)
        return operations.operation_cancel(operation=operation, stopped=stoppable)


def _operation(notebook: Notebook, verb: str, previous_workload=None) -> Operation:
    return operations.operation_create(
        project=notebook.project,
        operation_type=verb,
        target=instance_name(notebook),
        location=notebook.location,
        metadata={"previousWorkload": str(previous_workload) if previous_workload else None},
    )


def operation_refresh(operation: Operation, console_url: str) -> Operation:
    """Finish an instance operation whose notebook got where it was going (or failed on the way)."""
    if operation.done or "/instances/" not in operation.target:
        return operation
    name = operation.target.rsplit("/", 1)[1]
    notebook = _target(operation)
    verb = operation.operation_type
    if notebook is None:
        if verb == "delete":
            return operations.operation_finish(operation_id=operation.pk, response={"@type": f"{API}.Empty"})
        return _failed(operation, ErrorCode.ABORTED, f"Instance '{name}' was deleted.")
    state = notebook.state
    restarted = str(notebook.workload_id) != operation.metadata.get("previousWorkload")
    if verb == "stop" and state in ("STOPPED", "FAILED"):
        return _succeeded(operation, notebook, console_url)
    if verb in ("create", "start") or (verb == "reset" and restarted):
        if state == "ACTIVE":
            return _succeeded(operation, notebook, console_url)
        if state == "FAILED":
            return _failed(operation, ErrorCode.INTERNAL, f"Instance '{name}' failed: {notebook.reason}")
        if state in ("STOPPED", "DELETING"):
            return _failed(operation, ErrorCode.ABORTED, f"Instance '{name}' was {state.lower()} meanwhile.")
    return operation


def _target(operation: Operation) -> Notebook | None:
    """The notebook an instance operation works on, if it still exists."""
    return selectors.notebook_find(project=operation.project, name=operation.target.rsplit("/", 1)[1])


def _succeeded(operation: Operation, notebook: Notebook, console_url: str) -> Operation:
    response = {"@type": f"{API}.Instance", **instance_json(notebook, console_url)}
    return operations.operation_finish(operation_id=operation.pk, response=response)


def _failed(operation: Operation, code: ErrorCode, message: str) -> Operation:
    error = {"code": code.rpc_code, "message": message}
    return operations.operation_finish(operation_id=operation.pk, error=error)


# --- gceSetup -----------------------------------------------------------------------------------


def _shape(setup) -> dict:
    """notebook_create's arguments from `gceSetup`."""
    setup = proto.message(setup, field="gceSetup")
    if setup.get("vmImage"):
        raise ApplicationError(
            "VM images are not supported: notebooks run as containers; give gceSetup.containerImage.",
            field="gceSetup.vmImage",
        )
    confidential = proto.message(
        setup.get("confidentialInstanceConfig"), field="gceSetup.confidentialInstanceConfig"
    )
    if confidential.get("confidentialInstanceType"):
        raise ApplicationError(
            "confidential instances are not supported.", field="gceSetup.confidentialInstanceConfig"
        )
    shape: dict = {}
    machine = proto.string(setup.get("machineType"), field="gceSetup.machineType")
    if machine:
        shape |= _machine(machine.rsplit("/", 1)[-1])
    accelerators = proto.messages(setup.get("acceleratorConfigs"), field="gceSetup.acceleratorConfigs")
    if len(accelerators) > 1:
        raise ApplicationError(
            "at most one accelerator type per instance.", field="gceSetup.acceleratorConfigs"
        )
    if accelerators:
        shape |= _accelerator(accelerators[0])
    image = proto.message(setup.get("containerImage"), field="gceSetup.containerImage")
    if image:
        shape["image"] = _catalog_image(image)
    disks = proto.messages(setup.get("dataDisks"), field="gceSetup.dataDisks")
    if len(disks) > 1:
        raise ApplicationError("at most one data disk (the home volume).", field="gceSetup.dataDisks")
    if disks and disks[0].get("diskSizeGb") not in (None, ""):
        field = "gceSetup.dataDisks[0].diskSizeGb"
        shape["home_size_gib"] = proto.int64(
            disks[0]["diskSizeGb"], field=field, minimum=1, maximum=proto.COLUMN_MAX
        )
    return shape


def _patched_shape(notebook: Notebook, setup: dict) -> dict:
    """notebook_update's arguments from the masked fields of `gceSetup`: Google's field mask sets
    each masked field to what the body holds, so no accelerators means none; what is not masked
    stays, the machine type included when only the accelerators change."""
    for field in ("machineType", "containerImage"):
        if field in setup and not setup[field]:
            raise ApplicationError("is in updateMask but not in the body.", field=f"gceSetup.{field}")
    shape = _shape(setup)
    if "acceleratorConfigs" in setup and "flavor" not in shape:
        shape |= {"flavor": CPU_FLAVOR, "gpus": 0}
    if "machineType" not in setup and "flavor" in shape:
        shape |= {"cpu": notebook.cpu, "memory_gib": notebook.memory_gib}
    return shape


def _camel_case(path: str) -> str:
    """A field path as proto3 JSON names it (Google accepts `gce_setup.machine_type` too)."""
    return re.sub(r"_([a-z0-9])", lambda match: match[1].upper(), path.strip())


def _machine(name: str) -> dict:
    custom = CUSTOM_MACHINE.match(name)
    if custom:
        return {
            "cpu": Decimal(custom[1]),
            "memory_gib": (Decimal(custom[2]) / 1024).quantize(Decimal("0.001")),
        }
    machine = machine_types(names=[name]).get(name)
    if machine is None or machine.kind != MachineType.Kind.COMPUTE_ENGINE:
        raise ApplicationError(
            f"'{name}' is not a machine type of this platform; use a catalog one or custom-VCPUS-MIB.",
            field="gceSetup.machineType",
        )
    shape = {"cpu": machine.vcpus, "memory_gib": machine.memory_gib}
    if machine.gpus:
        shape |= {"flavor": machine.flavor, "gpus": machine.gpus}
    return shape


def _accelerator(config: dict) -> dict:
    name = proto.string(config.get("type"), field=f"{ACCELERATOR}.type")
    flavor = accelerator_flavors(names=[name]).get(name)
    if flavor is None:
        message = f"'{name}' is not an accelerator of this platform."
        raise ApplicationError(message, field=f"{ACCELERATOR}.type")
    field = f"{ACCELERATOR}.coreCount"
    count = proto.int64(config.get("coreCount", 1), field=field, minimum=1, maximum=proto.COLUMN_MAX)
    return {"flavor": flavor, "gpus": count}


def _catalog_image(image: dict) -> str:
    repository = proto.string(image.get("repository"), field="gceSetup.containerImage.repository")
    tag = proto.string(image.get("tag"), field="gceSetup.containerImage.tag") or "latest"
    reference = f"{repository}:{tag}"
    for row in NotebookImage.objects.all():
        if row.image == reference or (tag == "latest" and row.image.rsplit(":", 1)[0] == repository):
            return row.name
    raise ApplicationError(
        f"'{reference}' is not in the notebook image catalog; ask an admin to add it.",
        field="gceSetup.containerImage",
    )


def _machine_type(cpu: Decimal, memory_gib: Decimal) -> str:
    return f"custom-{int(cpu)}-{int(memory_gib * 1024)}"


def _split_image(reference: str) -> tuple[str, str]:
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:  # no tag, or the colon was a registry's port
        return reference, ""
    return repository, tag
