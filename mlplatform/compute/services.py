"""Writes for workloads: submit, admit, start, follow, cancel, evict, collect.

Every function that a task calls takes a primary key, re-reads the row under
`select_for_update` and does nothing when the work is already done, so it can run twice.
Tasks are queued after commit with `robust=True`: the rows are written by then, so a broker that is
down is logged and must not fail the request (a retrying client would duplicate the workload); the
periodic passes pick the work up.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from mlplatform.compute import admission
from mlplatform.compute.backends import default_backend_name, get_backend
from mlplatform.compute.backends.base import (
    BackendError,
    FlavorInfo,
    Phase,
    Wiring,
    WorkloadRef,
    WorkloadStatus,
)
from mlplatform.compute.models import AdmissionLock, UsageSample, Workload, WorkloadEvent, WorkloadRequest
from mlplatform.compute.selectors import admission_inputs, project_loads, quotas_for_admission
from mlplatform.compute.spec import SpecError, WorkloadSpec, spec_from_dict, spec_to_dict, validate_spec
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.quotas.models import Flavor
from mlplatform.storage.selectors import connections_named
from mlplatform.storage.wiring import workload_storage

log = logging.getLogger(__name__)

State = Workload.State
MISSING_GRACE = timedelta(seconds=120)  # a backend may not list what it just made
START_GRACE = timedelta(seconds=60)  # an admitted workload not started by then is started again


# --- submit ----------------------------------------------------------------------------------


def workload_submit(
    *,
    project: Project,
    spec: WorkloadSpec,
    owner=None,
    priority: int = 0,
    max_wait_seconds: int | None = None,
    member_of: Workload | None = None,
) -> Workload:
    """Queue a workload (a member of the group `member_of`, when given) after checking everything that waiting
    cannot fix. Nothing reaches a backend until admission admits it."""
    try:
        validate_spec(spec)
    except SpecError as exc:
        raise ApplicationError(exc.message, field=exc.field) from None
    if max_wait_seconds is not None and max_wait_seconds <= 0:
        raise ApplicationError("must be positive.", field="max_wait_seconds")
    try:  # the column's own range on this database, past which saving fails
        Workload._meta.get_field("max_wait_seconds").run_validators(max_wait_seconds)
    except ValidationError as exc:
        raise ApplicationError(exc.messages[0], field="max_wait_seconds") from None
    requests = spec.requests()
    flavors = {f.name: f for f in Flavor.objects.filter(name__in=requests)}
    for i, group in enumerate(spec.groups):
        flavor = flavors.get(group.resources.flavor)
        if flavor is None:
            raise ApplicationError(
                f"'{group.resources.flavor}' is not a flavor of this platform.",
                field=f"groups[{i}].resources.flavor",
            )
        if group.resources.gpus and not flavor.is_gpu:
            raise ApplicationError(
                f"'{flavor.name}' has no GPUs; choose a GPU flavor or ask for 0 GPUs.",
                field=f"groups[{i}].resources.gpus",
            )
    if spec.storage is not None:
        connections_named(project=project, names=spec.storage, field="storage")
    _check_ever_admissible(project, requests)

    with transaction.atomic():
        workload = Workload.objects.create(
            project=project,
            kind=spec.kind.value,
            name=spec.name,
            owner=owner,
            group=member_of,
            priority=priority,
            spec=spec_to_dict(spec),
            max_wait_seconds=max_wait_seconds,
            reason="waiting for the next admission pass",
        )
        WorkloadRequest.objects.bulk_create(
            WorkloadRequest(
                workload=workload,
                flavor=flavors[name],
                gpus=amount.gpus,
                cpu=amount.cpu,
                memory_gib=amount.memory_gib,
            )
            for name, amount in requests.items()
        )
        _event(workload, State.QUEUED, "", f"submitted by {owner}" if owner else "submitted", actor=owner)
        transaction.on_commit(_request_admission, robust=True)
    return workload


def workload_group_create(*, project: Project, name: str, owner=None, reason: str = "") -> Workload:
    """A group workload (Workload.Kind.GROUP): it asks for nothing and no backend runs it; its
    members are submitted with `group=` and its owner moves it with workload_group_update."""
    workload = Workload.objects.create(
        project=project,
        kind=Workload.Kind.GROUP,
        name=name,
        owner=owner,
        spec={"name": name, "kind": Workload.Kind.GROUP.value, "groups": []},
        reason=reason,
    )
    _event(workload, State.QUEUED, "", f"submitted by {owner}" if owner else "submitted", actor=owner)
    return workload


def workload_group_update(*, workload: Workload, state: str, reason: str) -> Workload:
    """Move a group (locked by the caller) to `state`, which its owner derived from its members:
    an event when the state changes; the first state past QUEUED starts its clock, an end stops it."""
    if not workload.is_group:
        raise ValueError(f"{workload} is not a group: backends move its state")
    if workload.is_finished or (state == workload.state and reason[:500] == workload.reason):
        return workload
    if state == workload.state:
        workload.reason = reason[:500]
        workload.save(update_fields=["reason", "updated_at"])
        return workload
    now = timezone.now()
    if state != State.QUEUED and workload.admitted_at is None:
        workload.admitted_at = now
    if state in (State.RUNNING, *Workload.FINISHED) and workload.started_at is None:
        workload.started_at = now
    if state in Workload.FINISHED:
        workload.finished_at = now
    _transition(workload, state, reason)
    workload.save()
    return workload


def _check_ever_admissible(project: Project, requests: dict) -> None:
    """Refuse what no amount of waiting would admit: a flavor the project has no quota for, or
    more than its quota plus everything its cohort could ever lend."""
    probe = admission.Workload(
        id="probe",
        project=project.slug,
        requests=requests,
    )
    quotas = quotas_for_admission(projects=[project])
    result = admission.admit([probe], quotas)
    pending = result.pending.get("probe")
    if pending is None:
        return
    if pending.never or "has no quota" in pending.reason:
        raise ApplicationError(pending.reason, field="resources")


# --- admission -------------------------------------------------------------------------------


@dataclass
class PassResult:
    admitted: list[uuid.UUID] = field(default_factory=list)
    pending: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)


def admission_pass(*, now: datetime | None = None) -> PassResult:
    """Admit what fits, give every pending workload its reason, and fail what can never run or
    waited too long. Serialized by the AdmissionLock row, so concurrent passes and submissions
    can never admit more than a quota allows. Queue positions are not stored: they follow from
    the queue's order (selectors.with_queue_positions)."""
    now = now or timezone.now()
    result = PassResult()
    with transaction.atomic():
        _lock_admission(now)
        inputs = admission_inputs()
        if not inputs.queued:
            return result
        decision = admission.admit(
            inputs.queued.values(), inputs.quotas, usage=inputs.usage, strategies=inputs.strategies
        )

        changes: list[tuple] = []  # (id, state, reason, admitted_at, finished_at)
        events: list[WorkloadEvent] = []
        for granted in decision.admitted:
            reason = "admitted"
            if granted.borrowed:
                lent = ", ".join(f"{_amount_words(a)} of {name}" for name, a in granted.borrowed.items())
                reason = f"admitted, borrowing {lent} from the cohort"
            changes.append((granted.workload_id, State.ADMITTED, reason, now, None))
            result.admitted.append(granted.workload_id)

        for workload_id, pending in decision.pending.items():
            created_at, old_reason = inputs.rows[workload_id]
            limit = inputs.max_wait.get(workload_id)
            if pending.never or (limit is not None and now - created_at > limit):
                reason = pending.reason
                if not pending.never:
                    reason = f"waited longer than {_duration_words(limit)} for quota: {pending.reason}"
                changes.append((workload_id, State.FAILED, reason[:500], None, now))
                result.failed.append(workload_id)
                continue
            result.pending += 1
            if old_reason != pending.reason[:500]:
                changes.append((workload_id, State.QUEUED, pending.reason[:500], None, None))

        for workload_id, state, reason, _, _ in changes:
            if state != State.QUEUED:
                events.append(
                    WorkloadEvent(workload_id=workload_id, state=state, previous=State.QUEUED, reason=reason)
                )
        _write_decisions(changes, now)
        WorkloadEvent.objects.bulk_create(events, batch_size=1000)
        admitted = list(result.admitted)
        transaction.on_commit(lambda: _request_start(admitted), robust=True)
    return result


def _write_decisions(changes: list[tuple], now: datetime) -> None:
    """Write every row a pass changed in a few statements. Django's bulk_update builds a CASE per
    row and takes seconds for thousands; PostgreSQL gets one UPDATE ... FROM (VALUES ...) per chunk,
    other databases an executemany."""
    if not changes:
        return
    table = Workload._meta.db_table
    fields = [
        Workload._meta.get_field(name) for name in ("id", "state", "reason", "admitted_at", "finished_at")
    ]
    changes = [
        tuple(f.get_db_prep_value(value, connection) for f, value in zip(fields, change, strict=True))
        for change in changes
    ]
    now = Workload._meta.get_field("updated_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(
                f"UPDATE {table} SET state = %s, reason = %s, admitted_at = %s, finished_at = %s, "
                "updated_at = %s WHERE id = %s",
                [(*change[1:], now, change[0]) for change in changes],
            )
            return
        for start in range(0, len(changes), 2000):
            chunk = changes[start : start + 2000]
            rows = ", ".join(["(%s::uuid, %s, %s, %s::timestamptz, %s::timestamptz)"] * len(chunk))
            cursor.execute(
                f"UPDATE {table} AS w SET state = v.state, reason = v.reason, admitted_at = v.admitted_at, "
                f"finished_at = v.finished_at, updated_at = %s FROM (VALUES {rows}) "
                "AS v(id, state, reason, admitted_at, finished_at) WHERE w.id = v.id",
                [now, *(item for change in chunk for item in change)],
            )


def _lock_admission(now: datetime) -> None:
    if not AdmissionLock.objects.filter(pk=1).update(passes=F("passes") + 1, last_pass_at=now):
        AdmissionLock.objects.get_or_create(pk=1)
        AdmissionLock.objects.filter(pk=1).update(passes=F("passes") + 1, last_pass_at=now)


def _amount_words(amounts: admission.Amounts) -> str:
    parts = []
    if amounts.gpus:
        parts.append(f"{amounts.gpus} GPU{'s' if amounts.gpus != 1 else ''}")
    if amounts.cpu:
        parts.append(f"{amounts.cpu.normalize():f} vCPUs")
    if amounts.memory_gib:
        parts.append(f"{amounts.memory_gib.normalize():f} GiB")
    return " and ".join(parts) or "nothing"


def _duration_words(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 120:
        return f"{minutes // 60} hours"
    if minutes >= 1:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{int(delta.total_seconds())} seconds"


# --- start, follow, stop ---------------------------------------------------------------------


# Backend I/O (creating objects, stopping processes) can take seconds: it never runs under a
# row lock. A start claims the row in one short transaction, commits, submits, and records the
# outcome in a second short transaction that re-checks the row; what it made is named after the
# run it claimed (WorkloadRef.generation), so a cancel, an eviction or a second start that came in
# between wins, and taking back what a stale start made never touches a later run.


def workload_start(*, workload_id: uuid.UUID) -> Workload | None:
    """Hand an admitted workload to the backend. A temporary backend error propagates (the task
    retries); a permanent one fails the workload and frees its quota."""
    with transaction.atomic():
        workload = _locked(workload_id)
        if workload is None or workload.state != State.ADMITTED:
            return workload
        backend = get_backend(workload.backend or None)
        if not workload.backend:  # claimed: a cancel from now on goes through the backend
            workload.backend = backend.name
            workload.save(update_fields=["backend", "updated_at"])
        ref, spec = workload.ref, spec_from_dict(workload.spec)
        flavors = workload_flavors(workload)
        wiring = _wiring(workload.project, spec.storage)

    try:
        backend.submit(ref, spec, flavors, wiring)
    except BackendError as exc:
        if exc.temporary:
            raise
        with transaction.atomic():
            workload = _locked(workload_id)
            if workload is not None and workload.state == State.ADMITTED and workload.ref == ref:
                _finish(workload, State.FAILED, f"the backend refused it: {exc}")
        return workload

    with transaction.atomic():
        workload = _locked(workload_id)
        mine = workload is not None and workload.ref == ref and workload.backend == backend.name
        if mine and workload.state == State.ADMITTED:
            _transition(workload, State.STARTING, f"submitted to the {backend.name} backend")
            workload.save(update_fields=["state", "reason", "updated_at"])
        elif not (mine and workload.state in (State.STARTING, State.RUNNING)):  # else: a second start won
            # Cancelled (its stop may have run before this submit made anything), evicted, or
            # gone while it was being submitted: take back what this start made.
            transaction.on_commit(lambda: _request_cleanup(backend.name, ref), robust=True)
    return workload


def workload_evict(*, workload_id: uuid.UUID, reason: str) -> Workload | None:
    """Queue a workload again (keeping its place by age) as a new run: what its last run has on
    the backend is taken back by a task of its own, retried until it is gone."""
    with transaction.atomic():
        workload = _locked(workload_id)
        if workload is None or workload.state not in (State.ADMITTED, State.STARTING, State.RUNNING):
            return workload
        backend, ref = workload.backend, workload.ref
        workload.evictions += 1
        workload.admitted_at = workload.started_at = None
        workload.backend = ""
        workload.replicas = []
        _transition(workload, State.QUEUED, f"evicted: {reason}")
        workload.save()
        if backend:
            transaction.on_commit(lambda: _request_cleanup(backend, ref), robust=True)
        transaction.on_commit(_request_admission, robust=True)
    return workload


def workload_cancel(*, workload: Workload, actor=None, reason: str = "") -> Workload:
    """Cancel a workload: at once when nothing of it can be on a backend, else through CANCELLING.
    `actor` is the user who asks (None: the platform), `reason` why; its events keep both."""
    with transaction.atomic():
        workload = _locked(workload.id)
        if workload.state in Workload.FINISHED:
            raise ApplicationError(
                f"'{workload.name}' already ended ({workload.state}).", code=ErrorCode.FAILED_PRECONDITION
            )
        if workload.state == State.CANCELLING:
            return workload
        if workload.is_group:  # its members hold and run everything: cancelled each on its own
            for member in workload.members.exclude(state__in=[*Workload.FINISHED, State.CANCELLING]):
                workload_cancel(workload=member, actor=actor, reason=reason)
            if workload.members.exclude(state__in=Workload.FINISHED).exists():
                # CANCELLED once its members stopped: its owner's next pass says so (workload_group_update)
                _transition(workload, State.CANCELLING, reason, actor=actor)
                workload.save(update_fields=["state", "reason", "updated_at"])
            else:
                _finish(workload, State.CANCELLED, reason, actor=actor)
            return workload
        if workload.state == State.QUEUED or (workload.state == State.ADMITTED and not workload.backend):
            _finish(workload, State.CANCELLED, reason, actor=actor)
            return workload
        _transition(workload, State.CANCELLING, reason, actor=actor)
        workload.save(update_fields=["state", "reason", "updated_at"])
        workload_id = workload.id
        transaction.on_commit(lambda: _request_stop(workload_id), robust=True)
    return workload


def workload_stop(*, workload_id: uuid.UUID) -> Workload | None:
    """Finish a cancel: remove everything from the backend, then CANCELLED."""
    _cancel_on_backend(workload_id, (State.CANCELLING,))
    with transaction.atomic():
        workload = _locked(workload_id)
        if workload is None or workload.state != State.CANCELLING:
            return workload
        _finish_cancel(workload)
    return workload


def _cancel_on_backend(workload_id: uuid.UUID, states: tuple[str, ...]) -> None:
    """Take the workload off its backend when it is in one of `states`: the row is read under a
    short lock and the backend called with none held (the caller re-checks the state after)."""
    with transaction.atomic():
        workload = _locked(workload_id)
        if workload is None or workload.state not in states or not workload.backend:
            return
        backend, ref = workload.backend, workload.ref
    get_backend(backend).cancel(ref)


def workloads_sync(*, now: datetime | None = None) -> int:
    """Bring every workload on a backend up to date from one status read per backend, and ask
    again to start those admitted long ago that never reached one (a worker died in the middle of
    starting them: its transaction rolled back, and a start is safe to repeat).
    Returns how many workloads changed."""
    now = now or timezone.now()
    # Asking again marks the row (updated_at), so a start that keeps failing is asked for again
    # at most once a grace period, not on every sync.
    stale = now - START_GRACE
    stuck = list(
        Workload.objects.filter(state=State.ADMITTED, admitted_at__lt=stale, updated_at__lt=stale)
        .exclude(kind=Workload.Kind.GROUP)
        .values_list("id", flat=True)
    )
    if stuck:
        Workload.objects.filter(id__in=stuck).update(updated_at=now)
        _request_start(stuck)
    on_backend = (
        Workload.objects.filter(state__in=Workload.ON_BACKEND)
        .exclude(kind=Workload.Kind.GROUP)
        .select_related("project")
    )
    by_backend: dict[str, list[Workload]] = {}
    for workload in on_backend:
        by_backend.setdefault(workload.backend or "local", []).append(workload)
    changed = 0
    for name, workloads in by_backend.items():
        statuses = get_backend(name).statuses(w.ref for w in workloads)
        for workload in workloads:
            status = statuses.get(workload.id.hex, WorkloadStatus(phase=Phase.MISSING))
            if _needs_update(workload, status, now):
                changed += workload_apply_status(workload_id=workload.id, status=status, now=now)
    return changed


def _needs_update(workload: Workload, status: WorkloadStatus, now: datetime) -> bool:
    replicas = _replica_rows(status)
    if status.phase == Phase.MISSING:
        return workload.state == State.CANCELLING or (workload.admitted_at or now) < now - MISSING_GRACE
    target = _target_state(workload, status)
    return target != workload.state or replicas != workload.replicas


def _target_state(workload: Workload, status: WorkloadStatus) -> str:
    if workload.state == State.CANCELLING:
        return State.CANCELLING
    return {
        Phase.PENDING: State.STARTING,
        Phase.RUNNING: State.RUNNING,
        Phase.SUCCEEDED: State.SUCCEEDED,
        Phase.FAILED: State.FAILED,
    }.get(status.phase, workload.state)


def workload_apply_status(
    *, workload_id: uuid.UUID, status: WorkloadStatus, now: datetime | None = None
) -> int:
    """Apply one backend status to one workload; 1 when it changed anything. A workload that failed
    has its other replicas stopped (a parameter server would otherwise wait forever)."""
    changed = _apply_status(workload_id, status, now or timezone.now())
    if changed and status.phase == Phase.FAILED:
        workload = Workload.objects.select_related("project").get(id=workload_id)
        if workload.state == State.FAILED and workload.backend:
            get_backend(workload.backend).cancel(workload.ref)
    return changed


def _apply_status(workload_id: uuid.UUID, status: WorkloadStatus, now: datetime) -> int:
    with transaction.atomic():
        workload = _locked(workload_id)
        if workload is None or workload.state not in Workload.ON_BACKEND:
            return 0
        if status.phase == Phase.MISSING:
            if workload.state == State.CANCELLING:
                _finish_cancel(workload)
                return 1
            transaction.on_commit(
                lambda: workload_evict(workload_id=workload_id, reason="the backend lost track of it")
            )
            return 0
        workload.replicas = _replica_rows(status)
        target = _target_state(workload, status)
        if target == workload.state:
            workload.save(update_fields=["replicas", "updated_at"])
            return 1
        if target == State.RUNNING:
            workload.started_at = status.started_at or now
            _transition(workload, State.RUNNING, "every replica runs")
            workload.save()
        elif target in (State.SUCCEEDED, State.FAILED):
            if workload.started_at is None:
                workload.started_at = status.started_at or workload.admitted_at or now
            reason = status.message or ("every replica succeeded" if target == State.SUCCEEDED else "failed")
            _finish(workload, target, reason, finished_at=status.finished_at or now)
        else:
            workload.save(update_fields=["replicas", "updated_at"])
        return 1


def workloads_collect_garbage(*, now: datetime | None = None) -> list[str]:
    """Remove backend objects and processes whose workload is gone, or finished longer ago than
    its time-to-live."""
    now = now or timezone.now()
    keep: set[str] = set()
    for workload_id, state, finished_at, spec in Workload.objects.values_list(
        "id", "state", "finished_at", "spec"
    ):
        ttl = (spec.get("failure_policy") or {}).get("ttl_after_finished_seconds", 3600)
        if state not in Workload.FINISHED or (
            finished_at and ttl is not None and finished_at + timedelta(seconds=ttl) > now
        ):
            keep.add(workload_id.hex)
    removed: list[str] = []
    for name in _backends_in_use():
        removed += get_backend(name).collect_garbage(keep)
    return removed


def _backends_in_use() -> set[str]:
    used = set(Workload.objects.exclude(backend="").values_list("backend", flat=True).distinct())
    return used | {default_backend_name()}


def usage_sample(*, now: datetime | None = None, keep_days: int = 14) -> int:
    """Record each project's queue length and the GPUs and CPUs its admitted workloads hold, as the
    sample of the current minute: a second run in the same minute replaces that minute's sample,
    never adds one. Samples older than `keep_days` go. Returns how many samples were written."""
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0)
    samples = [
        UsageSample(
            project_id=pk, time=minute, queued=load.queued, gpus_in_use=load.gpus, cpus_in_use=load.cpu
        )
        for pk, load in project_loads().items()
    ]
    with transaction.atomic():
        UsageSample.objects.bulk_create(
            samples,
            update_conflicts=True,
            unique_fields=["project", "time"],
            update_fields=["queued", "gpus_in_use", "cpus_in_use"],
        )
        UsageSample.objects.filter(time__lt=now - timedelta(days=keep_days)).delete()
    return len(samples)


def workload_volumes_delete(*, project: Project, name: str) -> None:
    """Remove the persistent volumes of the project's workloads named `name` (a deleted notebook's
    home), on the backend the latest of them ran on (the default where none ran). Gone is done.
    Raises BackendError; a temporary one is worth retrying."""
    backend = (
        Workload.objects.filter(project=project, name=name)
        .exclude(backend="")
        .order_by("-created_at")
        .values_list("backend", flat=True)
        .first()
    )
    get_backend(backend or None).delete_volumes(project.slug, name)


# --- helpers ---------------------------------------------------------------------------------


def _locked(workload_id) -> Workload | None:
    return Workload.objects.select_for_update().select_related("project").filter(id=workload_id).first()


def _transition(workload: Workload, state: str, reason: str, *, actor=None) -> None:
    event = _event(workload, state, workload.state, reason, actor=actor)
    workload.state, workload.reason = state, event.summary()[:500]


def _event(workload: Workload, state: str, previous: str, reason: str, *, actor=None) -> WorkloadEvent:
    return WorkloadEvent.objects.create(
        workload=workload, state=state, previous=previous, reason=reason[:500], actor=actor
    )


def _finish(
    workload: Workload, state: str, reason: str, *, finished_at: datetime | None = None, actor=None
) -> None:
    finished_at = finished_at or timezone.now()
    _transition(workload, state, reason, actor=actor)
    workload.finished_at = finished_at
    workload.replicas = _ended_replicas(workload.replicas, state)
    if workload.started_at:
        seconds = Decimal(max((finished_at - workload.started_at).total_seconds(), 0))
        workload.gpu_hours = (workload.total_gpus * seconds / 3600).quantize(Decimal("0.0001"))
    workload.save()
    transaction.on_commit(_request_admission, robust=True)  # its quota is free again


def _finish_cancel(workload: Workload) -> None:
    """CANCELLED, by whoever asked for the cancel and for their reason."""
    asked = workload.events.filter(state=State.CANCELLING).select_related("actor").last()
    _finish(workload, State.CANCELLED, asked.reason if asked else "", actor=asked.actor if asked else None)


def _ended_replicas(replicas: list[dict], state: str) -> list[dict]:
    """The last replica rows of a workload that ended in `state`: none reads as pending or running
    any more, since no status sync comes after the end. How far each got (stage) and what it last
    said (a pull error, say) stay."""
    if state == State.CANCELLED:
        phase, why = "cancelled", "cancelled with its workload"
    else:
        phase, why = "stopped", f"stopped when its workload {state.lower()}"
    return [
        {**replica, "phase": phase, "message": replica.get("message") or why}
        if replica.get("phase") in (Phase.PENDING, Phase.RUNNING)
        else replica
        for replica in replicas
    ]


def _replica_rows(status: WorkloadStatus) -> list[dict]:
    return [
        {
            "role": r.role,
            "index": r.index,
            "phase": r.phase.value,
            "exit_code": r.exit_code,
            "restarts": r.restarts,
            "message": r.message,
            "stage": r.stage.value if r.stage else None,
            "address": r.address,
        }
        for r in status.replicas
    ]


def workload_flavors(workload: Workload) -> dict[str, FlavorInfo]:
    names = {group["resources"]["flavor"] for group in workload.spec["groups"]}
    return {
        f.name: FlavorInfo(
            name=f.name,
            resource_name=f.resource_name,
            node_selector=dict(f.node_selector or {}),
            tolerations=tuple(f.tolerations or ()),
        )
        for f in Flavor.objects.filter(name__in=names)
    }


def _wiring(project: Project, connections: tuple[str, ...] | None) -> Wiring:
    return workload_storage(project=project, connections=connections)


def _request_admission() -> None:
    from mlplatform.compute.tasks import admit_workloads  # tasks call these services: a cycle at import time

    admit_workloads.delay()


def _request_start(workload_ids: Iterable[uuid.UUID]) -> None:
    from mlplatform.compute.tasks import start_workload  # tasks call these services: a cycle at import time

    with start_workload.app.producer_or_acquire() as producer:  # one broker connection for them all
        for workload_id in workload_ids:
            start_workload.apply_async((str(workload_id),), producer=producer)


def _request_cleanup(backend: str, ref: WorkloadRef) -> None:
    from mlplatform.compute.tasks import remove_run  # tasks call these services: a cycle at import time

    remove_run.delay(backend, asdict(ref))


def _request_stop(workload_id: uuid.UUID) -> None:
    from mlplatform.compute.tasks import stop_workload  # tasks call these services: a cycle at import time

    stop_workload.delay(str(workload_id))
