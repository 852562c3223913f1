"""Reads for workloads, queues and quota usage."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from django.conf import settings
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from mlplatform.compute import admission
from mlplatform.compute.backends import default_backend_name, get_backend
from mlplatform.compute.backends.base import BackendError, ReplicaUsage
from mlplatform.compute.models import UsageSample, Workload, WorkloadRequest
from mlplatform.compute.values import Endpoint
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.quotas.amounts import Amounts
from mlplatform.quotas.models import Flavor, ProjectQuota

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
    since = timezone.now() - timedelta(days=days)
    total = Workload.objects.filter(project=project, finished_at__gte=since).aggregate(total=Sum("gpu_hours"))
    return total["total"] or Decimal(0)


# --- cost ----------------------------------------------------------------------------------------

CENT = Decimal("0.01")
MICROSECOND = timedelta(microseconds=1)


def money(amount: Decimal) -> str:
    """`amount` rounded to cents in PRICE_CURRENCY: "$1,234.56" for USD, "1,234.56 EUR" otherwise."""
    cents = amount.quantize(CENT, ROUND_HALF_UP)
    currency = settings.PRICE_CURRENCY
    return f"${cents:,}" if currency == "USD" else f"{cents:,} {currency}"


@dataclass(frozen=True)
class Cost:
    """What something cost at its flavors' hourly prices. `amount` is exact (pages and APIs round it
    to cents); `priced` says whether it used a flavor with a price, `unpriced` names those it used
    that have none (a price of 0: none set), which count for nothing."""

    amount: Decimal = Decimal(0)
    priced: bool = False
    unpriced: tuple[str, ...] = ()

    def __add__(self, other: Cost) -> Cost:
        unpriced = tuple(sorted({*self.unpriced, *other.unpriced}))
        return Cost(self.amount + other.amount, self.priced or other.priced, unpriced)

    @property
    def cents(self) -> Decimal | None:
        """The amount rounded to cents; None where only flavors without a price were used."""
        if self.unpriced and not self.priced:
            return None
        return self.amount.quantize(CENT, ROUND_HALF_UP)

    @property
    def currency(self) -> str:
        return settings.PRICE_CURRENCY

    def __str__(self) -> str:
        if self.cents is None:
            return "no price set"
        if self.unpriced:
            return f"{money(self.cents)} (no price set for {', '.join(self.unpriced)})"
        return money(self.cents)


def _units(flavor: Flavor, gpus: int, cpu: Decimal) -> Decimal:
    """What a flavor's price is per hour of: its GPUs, or vCPUs for a CPU-only flavor."""
    return Decimal(gpus) if flavor.is_gpu else cpu


def _charge(flavor: Flavor, unit_seconds: Decimal) -> Cost:
    if not flavor.hourly_price:
        return Cost(unpriced=(flavor.name,))
    return Cost(flavor.hourly_price * unit_seconds / 3600, priced=True)


def _seconds_run(
    started: datetime | None, finished: datetime | None, now: datetime, since: datetime | None = None
) -> Decimal:
    """Seconds from `started` (or `since`, if later) to `finished`, or to `now` while it runs; 0
    before it started."""
    if started is None:
        return Decimal(0)
    start = max(started, since) if since else started
    return Decimal(max((finished or now) - start, timedelta(0)) // MICROSECOND) / 1_000_000


def _requests_run(requests: QuerySet[WorkloadRequest]) -> QuerySet[WorkloadRequest]:
    """Requests with their flavor and their workload's times, without the rest of its row."""
    return requests.select_related("flavor").annotate(
        started=F("workload__started_at"), finished=F("workload__finished_at"), member_of=F("workload__group")
    )


def workload_costs(workloads: Iterable[Workload], *, now: datetime | None = None) -> dict[UUID, Cost]:
    """Each workload's cost by id: for each request, its GPUs (vCPUs for a CPU-only flavor) times
    the flavor's hourly price times the hours it ran, from its start to its end, or to `now` while
    it runs (nothing before it started). A group costs what its members do. One query, whatever
    the number of workloads."""
    now = now or timezone.now()
    workloads = list(workloads)
    costs = {workload.id: Cost() for workload in workloads}
    if not costs:
        return costs
    groups = [workload.id for workload in workloads if workload.is_group]
    rows = _requests_run(
        WorkloadRequest.objects.filter(Q(workload__in=list(costs)) | Q(workload__group__in=groups))
    )
    for row in rows:
        seconds = _seconds_run(row.started, row.finished, now)
        cost = _charge(row.flavor, _units(row.flavor, row.gpus, row.cpu) * seconds)
        for owner in {row.workload_id, row.member_of}:
            if owner in costs:
                costs[owner] += cost
    return costs


def workload_cost(*, workload: Workload, now: datetime | None = None) -> Cost:
    """One workload's cost (workload_costs): what it has cost so far while it runs."""
    return workload_costs([workload], now=now)[workload.id]


@dataclass(frozen=True)
class FlavorCost:
    """One flavor's part of a project's cost: `hours` are GPU-hours (vCPU-hours for CPU only)."""

    flavor: Flavor
    hours: Decimal
    cost: Cost

    @property
    def unit(self) -> str:
        return "GPU" if self.flavor.is_gpu else "vCPU"

    @property
    def price(self) -> str:
        """The flavor's hourly price as pages write it."""
        return money(self.flavor.hourly_price) if self.flavor.hourly_price else "no price set"


@dataclass(frozen=True)
class ProjectCost:
    """What a project's workloads cost from `since` to now, per flavor (GPU flavors first)."""

    since: datetime
    flavors: tuple[FlavorCost, ...]

    @property
    def total(self) -> Cost:
        return sum((row.cost for row in self.flavors), Cost())


def project_cost(*, project: Project, days: int = 30, now: datetime | None = None) -> ProjectCost:
    """What the project's workloads cost in the last `days`, per flavor: those that ended in that
    window and those running now, each for the part of its run within the window. One query,
    whatever the number of workloads."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    requests = WorkloadRequest.objects.filter(workload__project=project, workload__started_at__lt=now).filter(
        Q(workload__finished_at__isnull=True) | Q(workload__finished_at__gt=since)
    )
    flavors: dict[int, Flavor] = {}
    unit_seconds: dict[int, Decimal] = {}
    for row in _requests_run(requests):
        seconds = _seconds_run(row.started, row.finished, now, since=since)
        flavors[row.flavor_id] = row.flavor
        unit_seconds[row.flavor_id] = (
            unit_seconds.get(row.flavor_id, 0) + _units(row.flavor, row.gpus, row.cpu) * seconds
        )
    rows = (
        FlavorCost(flavor=flavor, hours=unit_seconds[pk] / 3600, cost=_charge(flavor, unit_seconds[pk]))
        for pk, flavor in flavors.items()
    )
    return ProjectCost(
        since=since, flavors=tuple(sorted(rows, key=lambda r: (not r.flavor.is_gpu, r.flavor.name)))
    )


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


@dataclass(frozen=True)
class ProjectLoad:
    """How many of a project's workloads wait, and what its admitted ones hold, now."""

    queued: int = 0
    gpus: int = 0
    cpu: Decimal = Decimal(0)


def project_loads() -> dict[int, ProjectLoad]:
    """Every project's load by primary key (idle projects too): three queries in all."""
    queued = dict(
        Workload.objects.filter(state=State.QUEUED)
        .exclude(kind=Workload.Kind.GROUP)  # a group asks for nothing: its members queue
        .values_list("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    )
    held = dict(
        (row["workload__project_id"], (row["gpus"] or 0, row["cpu"] or Decimal(0)))
        for row in WorkloadRequest.objects.filter(workload__state__in=Workload.HOLDING)
        .values("workload__project_id")
        .annotate(gpus=Sum("gpus"), cpu=Sum("cpu"))
    )
    return {
        pk: ProjectLoad(queued.get(pk, 0), *held.get(pk, (0, Decimal(0))))
        for pk in Project.objects.values_list("id", flat=True)
    }


# The dashboard's periods: how far back, and how long one point of the chart is (its peak).
USAGE_PERIODS = {
    "24h": (timedelta(hours=24), timedelta(minutes=1)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
}


def usage_history(*, project: Project, period: str, now: datetime | None = None) -> dict:
    """The project's queue length and GPUs (and CPUs) in use over `period` (a key of USAGE_PERIODS),
    a point per minute (24h) or the peak of each hour (7d), oldest first; None for a point without
    a sample (the sampler was not running then). Raises ApplicationError for another period."""
    if period not in USAGE_PERIODS:
        raise ApplicationError(
            f"'{period}' is not a period: use {' or '.join(USAGE_PERIODS)}.", field="period"
        )
    span, step = USAGE_PERIODS[period]
    now = timezone.localtime(now or timezone.now())
    start = _bucket(now - span, step) + step
    samples = UsageSample.objects.filter(project=project, time__gte=start)
    if step == timedelta(hours=1):
        samples = samples.annotate(bucket=TruncHour("time")).values("bucket")
        samples = samples.annotate(q=Max("queued"), g=Max("gpus_in_use"), c=Max("cpus_in_use"))
        rows = {row["bucket"]: row for row in samples}
    else:
        rows = {
            row["time"]: row
            for row in samples.values("time", q=F("queued"), g=F("gpus_in_use"), c=F("cpus_in_use"))
        }
    points = []
    at = start
    while at <= now:
        points.append((at, rows.get(at)))
        at += step
    label = "%H:%M" if step < timedelta(hours=1) else "%a %H:%M"
    return {
        "period": period,
        "sampled": any(row for _, row in points),
        "labels": [timezone.localtime(at).strftime(label) for at, _ in points],
        "queued": [row and row["q"] for _, row in points],
        "gpus_in_use": [row and row["g"] for _, row in points],
        "cpus_in_use": [row and float(row["c"]) for _, row in points],
    }


def _bucket(at: datetime, step: timedelta) -> datetime:
    """The start of the minute (or hour) `at` falls in."""
    at = at.replace(second=0, microsecond=0)
    return at.replace(minute=0) if step >= timedelta(hours=1) else at


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
