"""Reads for workloads, queues and quota usage."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from mlplatform.compute import admission
from mlplatform.compute.backends import default_backend_name, get_backend
from mlplatform.compute.backends.base import BackendError, ReplicaUsage
from mlplatform.compute.models import Workload, WorkloadRequest
from mlplatform.compute.values import Endpoint
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.quotas.amounts import Amounts
from mlplatform.quotas.models import ProjectQuota

State = Workload.State


def workloads_list(*, project: Project | None = None, states: Iterable[str] = ()) -> QuerySet[Workload]:
    workloads = Workload.objects.select_related("project", "owner").prefetch_related("requests__flavor")
    if project is not None:
        workloads = workloads.filter(project=project)
    states = list(states)
    if states:
        workloads = workloads.filter(state__in=states)
    return workloads


def workload_get(*, project: Project, workload_id) -> Workload | None:
    workload = workloads_list(project=project).filter(id=workload_id).first()
    return with_queue_positions([workload])[0] if workload else None


QUEUE_ORDER = ("-priority", "created_at", "id")  # admission's order: priority, then age


def queue(*, project: Project | None = None) -> dict[str, list[Workload]]:
    """Running (holding quota) and pending workloads, pending in queue order with positions.
    Groups are not in it: they hold and wait for nothing, their members do."""
    running = (
        workloads_list(project=project, states=Workload.HOLDING)
        .exclude(kind=Workload.Kind.GROUP)
        .order_by("admitted_at", "created_at")
    )
    pending = list(
        workloads_list(project=project, states=[State.QUEUED])
        .exclude(kind=Workload.Kind.GROUP)
        .order_by("project__slug", *QUEUE_ORDER)
    )
    counters: dict[int, int] = {}
    for workload in pending:
        counters[workload.project_id] = counters.get(workload.project_id, 0) + 1
        workload.queue_position = counters[workload.project_id]
    return {"running": list(running), "pending": pending}


def with_queue_positions(workloads: Iterable[Workload]) -> list[Workload]:
    """Set `queue_position` on the queued ones (1-based within their project's queue): one query
    per project involved."""
    workloads = list(workloads)
    queued = [w for w in workloads if w.state == State.QUEUED]
    for project_id in {w.project_id for w in queued}:
        order = (
            Workload.objects.filter(project_id=project_id, state=State.QUEUED)
            .exclude(kind=Workload.Kind.GROUP)
            .order_by(*QUEUE_ORDER)
        )
        positions = {pk: i for i, pk in enumerate(order.values_list("id", flat=True), start=1)}
        for workload in queued:
            if workload.project_id == project_id:
                workload.queue_position = positions.get(workload.id)
    return workloads


# --- usage -----------------------------------------------------------------------------------


def gpu_hours(*, project: Project, days: int = 30) -> Decimal:
    """GPU-hours the project's workloads consumed in the last `days` (finished ones, by end time)."""
    from django.utils import timezone

    since = timezone.now() - timedelta(days=days)
    total = Workload.objects.filter(project=project, finished_at__gte=since).aggregate(total=Sum("gpu_hours"))
    return total["total"] or Decimal(0)


Key = tuple[str, str]  # (project slug, flavor name)


def usage(*, projects: Iterable[Project] | None = None) -> dict[Key, Amounts]:
    """What admitted workloads hold, per (project, flavor): one grouped query."""
    rows = WorkloadRequest.objects.filter(workload__state__in=Workload.HOLDING)
    if projects is not None:
        rows = rows.filter(workload__project__in=list(projects))
    totals = rows.values("workload__project__slug", "flavor__name").annotate(
        gpus=Sum("gpus"), cpu=Sum("cpu"), memory_gib=Sum("memory_gib")
    )
    return {
        (row["workload__project__slug"], row["flavor__name"]): Amounts(
            row["gpus"] or 0, row["cpu"] or Decimal(0), row["memory_gib"] or Decimal(0)
        )
        for row in totals
    }


def _quota_rows(projects: Iterable[Project] | None) -> QuerySet[ProjectQuota]:
    """Quota rows; with `projects`, theirs and those of every project sharing a cohort with them
    (what they could borrow from)."""
    rows = ProjectQuota.objects.select_related("project", "flavor", "cohort")
    if projects is not None:
        projects = list(projects)
        cohorts = ProjectQuota.objects.filter(project__in=projects, cohort__isnull=False).values("cohort")
        rows = rows.filter(Q(project__in=projects) | Q(cohort__in=cohorts))
    return rows


def _admission_quota(q: ProjectQuota) -> admission.Quota:
    return admission.Quota(
        project=q.project.slug,
        flavor=q.flavor.name,
        nominal=q.nominal,
        cohort=q.cohort.name if q.cohort else None,
        borrowing_limit=q.borrowing_limit,
        lending_limit=q.lending_limit,
    )


def quotas_for_admission(*, projects: Iterable[Project] | None = None) -> list[admission.Quota]:
    """The quota rows as admission sees them. With `projects`, their rows and those of every
    project sharing a cohort with them (what they could borrow from)."""
    return [_admission_quota(q) for q in _quota_rows(projects)]


@dataclass
class AdmissionInputs:
    rows: dict = field(default_factory=dict)  # workload id -> (created_at, reason)
    queued: dict = field(default_factory=dict)  # workload id -> admission.Workload
    quotas: list = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    strategies: dict = field(default_factory=dict)
    max_wait: dict = field(default_factory=dict)  # workload id -> timedelta


def admission_inputs() -> AdmissionInputs:
    """Everything one admission pass reads, in a fixed number of queries whatever the queue's size."""
    inputs = AdmissionInputs()
    queued = list(
        Workload.objects.filter(state=State.QUEUED)
        .exclude(kind=Workload.Kind.GROUP)  # a group asks for nothing: its members queue
        .values_list("id", "project_id", "priority", "created_at", "max_wait_seconds", "reason")
    )
    if not queued:
        return inputs
    projects = {
        pk: (slug, strategy, minutes)
        for pk, slug, strategy, minutes in Project.objects.filter(
            id__in={row[1] for row in queued}
        ).values_list("id", "slug", "queueing_strategy", "max_queue_minutes")
    }
    requests: dict = {}
    for workload_id, flavor, gpus, cpu, memory in WorkloadRequest.objects.filter(
        workload__state=State.QUEUED
    ).values_list("workload_id", "flavor__name", "gpus", "cpu", "memory_gib"):
        requests.setdefault(workload_id, {})[flavor] = Amounts(gpus, cpu, memory)
    for workload_id, project_id, priority, created_at, max_wait_seconds, reason in queued:
        slug, _, max_minutes = projects[project_id]
        inputs.rows[workload_id] = (created_at, reason)
        inputs.queued[workload_id] = admission.Workload(
            id=workload_id,
            project=slug,
            priority=priority,
            created=created_at,
            requests=requests.get(workload_id, {}),
        )
        limits = [seconds for seconds in (max_wait_seconds, max_minutes and max_minutes * 60) if seconds]
        if limits:
            inputs.max_wait[workload_id] = timedelta(seconds=min(limits))
    inputs.strategies = {slug: strategy for slug, strategy, _ in projects.values()}
    inputs.quotas = quotas_for_admission()
    inputs.usage = usage()
    return inputs


# --- logs and the quota board ----------------------------------------------------------------


def workload_logs(
    *,
    workload: Workload,
    role: str | None,
    index: int,
    tail: int | None,
    follow: bool,
    timestamps: bool = False,
) -> Iterator[str]:
    """One replica's log lines from the workload's backend; with `timestamps`, each after the time
    it was written, where the backend records one (`log_timestamps`)."""

    roles = [group["role"] for group in workload.spec.get("groups", [])]
    role = role or (roles[0] if roles else "")
    if role not in roles:
        raise ApplicationError(
            f"'{role}' is not a replica group of this workload (it has {', '.join(roles)}).", field="role"
        )
    count = next(group.get("count", 1) for group in workload.spec["groups"] if group["role"] == role)
    if index >= count:
        raise ApplicationError(f"'{role}' has {count} replica(s), numbered from 0.", field="index")
    if not workload.backend:
        raise ApplicationError(
            f"'{workload.name}' has not started yet ({workload.state}): there is no log.",
            code=ErrorCode.FAILED_PRECONDITION,
        )
    backend = get_backend(workload.backend)
    return backend.logs(workload.ref, role, index, tail=tail, follow=follow, timestamps=timestamps)


@dataclass(frozen=True)
class LogView:
    """One replica's log as a page shows it. `lines` is None while there is no log (yet)."""

    lines: list[str] | None
    timestamps: bool = False  # each line starts with its time
    times_recorded: bool = False  # the backend can give each line's time


def workload_log_view(
    *, workload: Workload, role: str, index: int, lines: int = 200, q: str = "", timestamps: bool = False
) -> LogView:
    """The last `lines` lines of one replica's log for a page: with `q`, the last of those that
    contain it in any case, searched through the whole log; with `timestamps`, each after the time
    it was written, where the backend records one."""
    times_recorded = get_backend(workload.backend or None).log_timestamps
    timestamps = timestamps and times_recorded
    if not workload.backend:
        return LogView(None, timestamps, times_recorded)
    try:
        found = workload_logs(
            workload=workload,
            role=role,
            index=index,
            tail=None if q else lines,
            follow=False,
            timestamps=timestamps,
        )
    except ApplicationError:
        return LogView(None, timestamps, times_recorded)
    if q:
        wanted = q.casefold()
        found = (line for line in found if wanted in _log_text(line, timestamps).casefold())
    return LogView(list(deque(found, maxlen=lines)), timestamps, times_recorded)


def _log_text(line: str, timestamps: bool) -> str:
    """What a line says, without the time in front of it: what a search looks in."""
    return line.partition(" ")[2] if timestamps else line


def workload_log_tail(*, workload: Workload, role: str, index: int, lines: int = 200) -> list[str] | None:
    """The last lines of one replica's log for a page, or None when there is none (yet)."""
    return workload_log_view(workload=workload, role=role, index=index, lines=lines).lines


def workload_endpoint(*, workload: Workload, role: str, port: int) -> Endpoint | None:
    """Where the console reaches `port` of the first replica of the workload's group `role`, or None
    while it has no address. Raises BackendError where the backend cannot be asked."""

    return get_backend(workload.backend or None).endpoint(workload.ref, role, port)


@dataclass(frozen=True)
class Utilisation:
    """What a workload's running replicas use now, for its pages; `error` when the backend could
    not be asked (the page says so and asks again at its next poll)."""

    replicas: tuple[ReplicaUsage, ...] = ()
    error: str = ""


def workload_utilisation(*, workload: Workload) -> Utilisation:
    """Live CPU, memory and GPU use of the workload's running replicas; nothing while it is not on a
    backend. Measures for a moment: never call it inside a transaction (no row stays locked)."""
    if workload.state not in Workload.ON_BACKEND or not workload.backend:
        return Utilisation()
    try:
        return Utilisation(get_backend(workload.backend).utilisation(workload.ref))
    except BackendError as exc:
        return Utilisation(error=str(exc))


@dataclass(frozen=True)
class QuotaStanding:
    """One quota row with what its project holds and what it could take now. `headroom` is
    admission's own arithmetic (admission.headroom), so no page or API promises more than
    admission would grant."""

    quota: ProjectQuota
    used: Amounts
    headroom: admission.Headroom

    project = property(lambda self: self.quota.project.slug)
    flavor = property(lambda self: self.quota.flavor)
    cohort = property(lambda self: self.quota.cohort.name if self.quota.cohort else None)
    nominal = property(lambda self: self.quota.nominal)
    borrowing_limit = property(lambda self: self.quota.borrowing_limit)
    lending_limit = property(lambda self: self.quota.lending_limit)
    free = property(lambda self: self.headroom.free)  # one more workload could get this much now
    borrowable = property(lambda self: self.headroom.borrowable)  # of `free`, above its own quota
    cohort_can_lend = property(lambda self: self.headroom.lendable)

    @property
    def borrowed(self) -> Amounts:
        return (self.used - self.nominal).floor()

    @property
    def gpu_percent(self) -> int:
        gpus = self.nominal.gpus
        return min(round(100 * self.used.gpus / gpus), 100) if gpus else 0


def quota_board(*, projects: Iterable[Project] | None = None) -> list[QuotaStanding]:
    """Each quota row of `projects` (all without) with its usage and headroom, GPU flavors
    first: two queries, whatever the number of rows."""
    projects = None if projects is None else list(projects)
    rows = list(_quota_rows(projects))
    held = usage(projects=None if projects is None else {q.project for q in rows})
    room = admission.headroom([_admission_quota(q) for q in rows], held)
    wanted = None if projects is None else {p.pk for p in projects}
    board = [
        QuotaStanding(
            quota=q,
            used=held.get((q.project.slug, q.flavor.name), Amounts()),
            headroom=room[(q.project.slug, q.flavor.name)],
        )
        for q in rows
        if wanted is None or q.project_id in wanted
    ]
    return sorted(board, key=lambda r: (r.project, not r.flavor.is_gpu, r.flavor.name))


def quota_standing(*, project: Project, flavor: str) -> QuotaStanding | None:
    """One project's standing for one flavor (None without a quota row for it)."""
    return next((row for row in quota_board(projects=[project]) if row.flavor.name == flavor), None)


def replicas_ever_admissible(*, project: Project, replica: Amounts, flavor: str) -> int:
    """The most replicas of `replica` (of `flavor`) one workload of the project could ever be
    admitted with: admission's headroom with nothing in use (its own quota plus what its cohort
    could lend); 0 without a quota for the flavor."""
    quotas = quotas_for_admission(projects=[project])
    room = admission.headroom(quotas, {}).get((project.slug, flavor))
    if room is None:
        return 0
    counts = [
        int(free // need) for free, need in zip(room.free.as_tuple(), replica.as_tuple(), strict=True) if need
    ]
    return min(counts) if counts else 0


def backend_overview() -> dict:
    """The default backend's name and the optional integrations it detects (display only)."""

    name = default_backend_name()
    try:
        return {"name": name, "integrations": get_backend(name).integrations(), "error": ""}
    except BackendError as exc:
        return {"name": name, "integrations": {}, "error": str(exc)}


def default_backend_gpus() -> int | None:
    """The most GPUs a workload can get on the backend new workloads start on: the local
    backend's (LOCAL_GPUS, else nvidia-smi's), None where a cluster decides (Kubernetes)."""
    try:
        return get_backend(default_backend_name()).gpu_capacity()
    except BackendError:  # a misconfigured cluster: nothing known here
        return None


def default_backend_gpu_problem(gpus: int) -> str | None:
    """Why a workload asking for `gpus` GPUs could never run on the default backend, or None."""
    capacity = default_backend_gpus()
    if capacity is None or gpus <= capacity:
        return None
    has = f"only {capacity} GPU{'s' if capacity != 1 else ''}" if capacity else "no GPUs"
    return (
        f"asks for {gpus} GPU{'s' if gpus != 1 else ''}, and this machine (the local backend) has {has}; "
        "set LOCAL_GPUS to the GPUs it has, or run the console on a cluster"
    )


def default_backend_runs_images() -> bool:
    """Whether the backend new workloads start on runs container images; the local backend runs
    processes of this machine, and only groups that say their local alternative (LocalRun)."""

    return default_backend_name() != "local"
