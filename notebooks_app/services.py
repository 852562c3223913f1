"""Writes for notebooks: create, start, stop, update while stopped, delete with the home volume.

Each start queues a new compute Workload; the notebook's state is that workload's, in its own words
(models.Notebook.STATES). Stopping cancels the workload and keeps the home volume; deleting also
removes the volume, once the workload is gone (tasks.finish_delete).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from mlplatform.compute.selectors import default_backend_gpu_problem
from mlplatform.compute.services import workload_cancel, workload_submit, workload_volumes_delete
from mlplatform.compute.spec import ENV_NAME
from mlplatform.core.errors import ApplicationError, ErrorCode, Refusals
from mlplatform.core.models import Project
from mlplatform.core.validators import dns_label_problem
from mlplatform.quotas.models import Flavor
from mlplatform.storage.models import StorageConnection
from mlplatform.storage.selectors import connections_list, connections_named
from notebooks_app.models import Notebook, NotebookImage, default_location, new_secret
from notebooks_app.specs import RESERVED_ENV_PREFIXES, notebook_spec

State = Notebook.State
Desired = Notebook.Desired
MAX_HOME_GIB = 16384
RESERVED_NAMES = frozenset({"new"})  # /projects/{p}/notebooks/new/ is the create form
DEFAULT_CPU = Decimal(2)  # a CPU-only notebook's share; GPU flavors give their per-GPU amounts
DEFAULT_MEMORY_GIB = Decimal(4)


def notebook_create(
    *,
    project: Project,
    owner,
    name: str,
    image: str | None = None,
    flavor: str = "cpu",
    gpus: int = 0,
    cpu: Decimal | None = None,
    memory_gib: Decimal | None = None,
    home_size_gib: int = 10,
    env: Mapping[str, str] | None = None,
    storage_connections: Sequence[str] | None = None,
    location: str | None = None,
    start: bool = True,
    validate_only: bool = False,
) -> Notebook | None:
    """Create a notebook and (with `start`) queue its first start. Fails on a bad or taken name, an
    image that does not suit the flavor, a GPU count the flavor cannot give, a storage connection
    the project does not have, an unknown location, or a shape the project's quota could never
    admit. Without `storage_connections` every connection of the project is wired in. Every
    field's refusal is raised at once; `validate_only` checks them all and writes nothing."""
    refusals = Refusals()
    if problem := dns_label_problem(name):
        refusals.refuse(f"'{name}' {problem}.", field="name")
    elif name in RESERVED_NAMES:
        refusals.refuse(f"'{name}' is reserved: the console's pages use it.", field="name")
    elif Notebook.objects.filter(project=project, name=name).exists():
        refusals.errors.append(_exists(name))
    shape = refusals.check(
        _shape,
        image=image,
        flavor=flavor,
        gpus=gpus,
        cpu=cpu,
        memory_gib=memory_gib,
        home_size_gib=home_size_gib,
    )
    connections = refusals.check(_connections, project, storage_connections)
    location = location or default_location()
    if location not in settings.PLATFORM_LOCATIONS:
        refusals.refuse(
            f"'{location}' is not a location of this platform ({', '.join(settings.PLATFORM_LOCATIONS)}).",
            field="location",
        )
    env = refusals.check(_env_checked, env or {})
    refusals.raise_any()
    if validate_only:
        return None
    try:
        with transaction.atomic():
            notebook = Notebook.objects.create(
                project=project,
                name=name,
                owner=owner,
                env=env,
                location=location,
                desired_state=Desired.RUNNING if start else Desired.STOPPED,
                **shape,
            )
            notebook.storage_connections.set(connections)
            if start:
                _submit(notebook, actor=owner)
    except IntegrityError:  # the same name created at the same moment
        raise _exists(name) from None
    return notebook


def notebook_start(*, notebook: Notebook, actor) -> Notebook:
    """Queue a new start of a stopped (or failed) notebook, with a fresh token; `actor` (the user who
    starts it, None: the platform) owns the workload, else the notebook's owner."""
    with transaction.atomic():
        notebook = _locked(notebook)
        if not notebook.is_stopped:
            raise _not_now(notebook, "start")
        notebook.desired_state = Desired.RUNNING
        _submit(notebook, actor=actor)
    return notebook


def notebook_stop(*, notebook: Notebook, actor, reason: str = "") -> Notebook:
    """Stop Jupyter and free the quota; the home volume and its files stay. `actor` is the user who
    stops it (None: the platform, such as idle culling) and `reason` why, as its events will say.
    Stopping a notebook that is already stopping does nothing."""
    with transaction.atomic():
        notebook = _locked(notebook)
        if notebook.state == State.STOPPING:
            return notebook
        if notebook.is_stopped or notebook.state == State.DELETING:
            raise _not_now(notebook, "stop")
        notebook.workload = workload_cancel(workload=notebook.workload, actor=actor, reason=reason)
        notebook.desired_state = Desired.STOPPED
        notebook.save(update_fields=["desired_state", "updated_at"])
    return notebook


def notebook_reset(*, notebook: Notebook, actor) -> Notebook:
    """Restart Jupyter: stop it, and start it again (with a new token) once it has stopped."""
    with transaction.atomic():
        notebook = _locked(notebook)
        if notebook.is_stopped or notebook.state in (State.STOPPING, State.DELETING):
            raise _not_now(notebook, "reset")
        notebook.workload = workload_cancel(workload=notebook.workload, actor=actor, reason="to restart it")
        notebook.desired_state = Desired.RUNNING  # what the restart brings it back to
        notebook.save(update_fields=["desired_state", "updated_at"])
        notebook_id = notebook.pk
        transaction.on_commit(lambda: _request_restart(notebook_id), robust=True)
    return notebook


def notebook_restart(*, notebook_id: int) -> bool:
    """The second half of a reset: start the notebook once its workload has ended, unless it was
    stopped or deleted meanwhile. True when there is nothing left to do; False while it stops."""
    with transaction.atomic():
        notebook = _notebooks_locked().filter(pk=notebook_id).first()
        if notebook is None or notebook.desired_state != Desired.RUNNING:
            return True
        if notebook.state == State.STOPPING:
            return False
        if notebook.is_stopped:  # else someone started it meanwhile
            _submit(notebook, actor=None)
    return True


def notebook_update(
    *,
    notebook: Notebook,
    image: str | None = None,
    flavor: str | None = None,
    gpus: int | None = None,
    cpu: Decimal | None = None,
    memory_gib: Decimal | None = None,
    home_size_gib: int | None = None,
    env: Mapping[str, str] | None = None,
    storage_connections: Sequence[str] | None = None,
) -> Notebook:
    """Change image, resources, home size (it only grows), environment or storage connections of a
    stopped notebook; None keeps a value. A new flavor or GPU count recomputes CPU and memory
    unless given."""
    with transaction.atomic():
        notebook = _locked(notebook)
        if not notebook.is_stopped:
            raise ApplicationError(
                f"'{notebook.name}' is {notebook.state.lower()}: stop it before changing it.",
                code=ErrorCode.FAILED_PRECONDITION,
            )
        if home_size_gib is not None and home_size_gib < notebook.home_size_gib:
            raise ApplicationError(
                f"A home volume cannot shrink (it has {notebook.home_size_gib} GiB).", field="home_size_gib"
            )
        reshaped = flavor is not None or gpus is not None
        shape = _shape(
            image=image if image is not None else notebook.image.name,
            flavor=flavor if flavor is not None else notebook.flavor.name,
            gpus=gpus if gpus is not None else notebook.gpus,
            cpu=cpu if cpu is not None else (None if reshaped else notebook.cpu),
            memory_gib=memory_gib if memory_gib is not None else (None if reshaped else notebook.memory_gib),
            home_size_gib=home_size_gib if home_size_gib is not None else notebook.home_size_gib,
        )
        for field, value in shape.items():
            setattr(notebook, field, value)
        if env is not None:
            notebook.env = _env_checked(env)
        if storage_connections is not None:
            notebook.storage_connections.set(_connections(notebook.project, storage_connections))
        notebook.save()
    return notebook


def notebook_delete(*, notebook: Notebook, actor, confirm: bool = False) -> Notebook:
    """Stop the notebook and, once its workload is gone, delete it with its home volume (files
    and all): so only with `confirm`. Asking again while it is being deleted retries the end."""
    if not confirm:
        raise ApplicationError(
            f"Deleting '{notebook.name}' deletes its home volume and every file in it; "
            "confirm it (confirm=true).",
            code=ErrorCode.FAILED_PRECONDITION,
            field="confirm",
        )
    with transaction.atomic():
        notebook = _locked(notebook)
        workload = notebook.workload
        if workload is not None and not workload.is_finished and workload.state != workload.State.CANCELLING:
            notebook.workload = workload_cancel(workload=workload, actor=actor, reason="to delete it")
        notebook.desired_state = Desired.DELETED
        notebook.save(update_fields=["desired_state", "updated_at"])
        notebook_id = notebook.pk
        transaction.on_commit(lambda: _request_finish_delete(notebook_id), robust=True)
    return notebook


def notebook_finish_delete(*, notebook_id: int) -> bool:
    """Remove a notebook being deleted, and its volumes, once its workload has ended. True when
    there is nothing left to do; False while the workload still stops (call again later)."""
    with transaction.atomic():
        notebook = (
            Notebook.objects.select_for_update(of=("self",))
            .select_related("project", "workload")
            .filter(pk=notebook_id, desired_state=Desired.DELETED)
            .first()
        )
        if notebook is None:
            return True
        workload = notebook.workload
        if workload is not None and not workload.is_finished:
            return False
        workload_volumes_delete(project=notebook.project, name=notebook.name)
        notebook.delete()
    return True


# --- helpers ---------------------------------------------------------------------------------


def _submit(notebook: Notebook, *, actor) -> None:
    """Queue a workload for this start; the token changes with every start. Refuses GPUs the
    backend it would start on does not have (this machine's, on the local backend)."""
    if problem := default_backend_gpu_problem(notebook.gpus):
        raise ApplicationError(f"'{notebook.name}' {problem}.", field="gpus")
    notebook.secret = new_secret()
    user = actor or notebook.owner
    spec = notebook_spec(
        project=notebook.project.slug,
        name=notebook.name,
        image=notebook.image.image,
        flavor=notebook.flavor.name,
        gpus=notebook.gpus,
        cpu=notebook.cpu,
        memory_gib=notebook.memory_gib,
        home_size_gib=notebook.home_size_gib,
        env=notebook.env,
        storage=tuple(sorted(c.name for c in notebook.storage_connections.all())),
        token_sha256=hashlib.sha256(notebook.secret.encode()).hexdigest(),
        user=getattr(notebook.owner, "username", "") or "jovyan",
    )
    notebook.workload = workload_submit(project=notebook.project, spec=spec, owner=user)
    notebook.save()


def _shape(
    *,
    image: str | None,
    flavor: str,
    gpus: int,
    cpu: Decimal | None,
    memory_gib: Decimal | None,
    home_size_gib: int,
) -> dict[str, Any]:
    """The checked image, flavor and resources, as Notebook fields; every refusal at once."""
    refusals = Refusals()
    flavor_row = Flavor.objects.filter(name=flavor).first()
    sized = False  # the flavor and GPU count hold: CPU and memory default from them
    if flavor_row is None:
        refusals.refuse(f"'{flavor}' is not a flavor of this platform.", field="flavor")
    elif flavor_row.is_gpu and gpus < 1:
        refusals.refuse(f"'{flavor}' is a GPU flavor: ask for at least one GPU.", field="gpus")
    elif not flavor_row.is_gpu and gpus:
        refusals.refuse(f"'{flavor}' has no GPUs; choose a GPU flavor or 0 GPUs.", field="gpus")
    else:
        sized = True
    image_row = refusals.check(_image, image)
    if image_row and flavor_row and not image_row.suits(flavor_row):
        suited = ", ".join(f.name for f in image_row.flavors.all())
        refusals.refuse(f"Image '{image_row.name}' is for {suited} only.", field="image")
    if not 1 <= home_size_gib <= MAX_HOME_GIB:
        refusals.refuse(f"must be between 1 and {MAX_HOME_GIB} GiB.", field="home_size_gib")
    if cpu is None and sized:
        cpu = flavor_row.cpu_per_gpu * gpus if flavor_row.is_gpu else DEFAULT_CPU
    if memory_gib is None and sized:
        memory_gib = flavor_row.memory_gib_per_gpu * gpus if flavor_row.is_gpu else DEFAULT_MEMORY_GIB
    shape = {
        "image": image_row,
        "flavor": flavor_row,
        "gpus": gpus,
        "cpu": refusals.check(_positive, cpu, "cpu") if cpu is not None else None,
        "memory_gib": refusals.check(_positive, memory_gib, "memory_gib") if memory_gib is not None else None,
        "home_size_gib": home_size_gib,
    }
    refusals.raise_any()
    return shape


def _connections(project: Project, names: Sequence[str] | None) -> list[StorageConnection]:
    """The project's connections by name (all of them for None); an unknown name is refused."""
    if names is None:
        return list(connections_list(project=project))
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise ApplicationError("must be a list of connection names.", field="storage_connections")
    return connections_named(project=project, names=names, field="storage_connections")


def _image(name: str | None) -> NotebookImage:
    images = NotebookImage.objects.prefetch_related("flavors")
    image = images.filter(name=name).first() if name else images.filter(is_default=True).first()
    if image is None:
        if name:
            raise ApplicationError(f"'{name}' is not an image of the notebook catalog.", field="image")
        raise ApplicationError("The notebook catalog has no default image; name one.", field="image")
    return image


def _positive(value, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ApplicationError(f"'{value}' is not a number.", field=field) from None
    if not number.is_finite() or number <= 0:
        raise ApplicationError("must be positive.", field=field)
    return number


def _env_checked(env: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(env, Mapping):
        raise ApplicationError("must be an object of names to values.", field="env")
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise ApplicationError(f"'{name}' is not a valid environment variable name.", field="env")
        if name.startswith(RESERVED_ENV_PREFIXES):
            raise ApplicationError(
                f"'{name}': names starting with {' or '.join(RESERVED_ENV_PREFIXES)} are the platform's.",
                field="env",
            )
        if not isinstance(value, str):
            raise ApplicationError(f"'{name}' must have a string value.", field="env")
    return dict(env)


def _notebooks_locked():
    return Notebook.objects.select_for_update(of=("self",)).select_related(
        "project", "workload", "image", "flavor", "owner"
    )


def _locked(notebook: Notebook) -> Notebook:
    return _notebooks_locked().get(pk=notebook.pk)


def _not_now(notebook: Notebook, action: str) -> ApplicationError:
    return ApplicationError(
        f"'{notebook.name}' is {notebook.state.lower()}: it cannot {action} now.",
        code=ErrorCode.FAILED_PRECONDITION,
    )


def _exists(name: str) -> ApplicationError:
    return ApplicationError(
        f"Notebook '{name}' already exists in this project.", code=ErrorCode.ALREADY_EXISTS, field="name"
    )


def _request_finish_delete(notebook_id: int) -> None:
    from notebooks_app.tasks import finish_delete  # tasks call these services: a cycle at import time

    finish_delete.delay(notebook_id)


def _request_restart(notebook_id: int) -> None:
    from notebooks_app.tasks import restart  # likewise

    restart.delay(notebook_id)
