"""Reads for workloads, queues and quota usage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from mlplatform.compute import admission
from mlplatform.compute.models import Workload, WorkloadRequest
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
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
    """Running (holding quota) and pending workloads, pending in queue order with positions."""
    running = workloads_list(project=project, states=Workload.HOLDING).order_by("admitted_at", "created_at")
    pending = list(
        workloads_list(project=project, states=[State.QUEUED]).order_by("project__slug", *QUEUE_ORDER)
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
        order = Workload.objects.filter(project_id=project_id, state=State.QUEUED).order_by(*QUEUE_ORDER)
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


def usage(*, projects: Iterable[Project] | None = None) -> dict[Key, admission.Amounts]:
    """What admitted workloads hold, per (project, flavor): one grouped query."""
    rows = WorkloadRequest.objects.filter(workload__state__in=Workload.HOLDING)
    if projects is not None:
        rows = rows.filter(workload__project__in=list(projects))
    totals = rows.values("workload__project__slug", "flavor__name").annotate(
        gpus=Sum("gpus"), cpu=Sum("cpu"), memory_gib=Sum("memory_gib")
    )
    return {
        (row["workload__project__slug"], row["flavor__name"]): admission.Amounts(
            row["gpus"] or 0, row["cpu"] or Decimal(0), row["memory_gib"] or Decimal(0)
        )
        for row in totals
    }


def quotas_for_admission(*, projects: Iterable[Project] | None = None) -> list[admission.Quota]:
    """The quota rows as admission sees them. With `projects`, their rows and those of every
    project sharing a cohort with them (what they could borrow from)."""
    rows = ProjectQuota.objects.select_related("project", "flavor", "cohort")
    if projects is not None:
        projects = list(projects)
        cohorts = ProjectQuota.objects.filter(project__in=projects, cohort__isnull=False).values("cohort")
        rows = rows.filter(Q(project__in=projects) | Q(cohort__in=cohorts))
    return [
        admission.Quota(
            project=q.project.slug,
            flavor=q.flavor.name,
            nominal=admission.Amounts(q.nominal_gpus, q.nominal_cpu, q.nominal_memory_gib),
            cohort=q.cohort.name if q.cohort else None,
            borrowing_limit=admission.Limits(
                q.gpu_borrowing_limit, q.cpu_borrowing_limit, q.memory_borrowing_limit_gib
            ),
            lending_limit=admission.Limits(
                q.gpu_lending_limit, q.cpu_lending_limit, q.memory_lending_limit_gib
            ),
        )
        for q in rows
    ]


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
        Workload.objects.filter(state=State.QUEUED).values_list(
            "id", "project_id", "priority", "created_at", "max_wait_seconds", "reason"
        )
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
        requests.setdefault(workload_id, {})[flavor] = admission.Amounts(gpus, cpu, memory)
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
    *, workload: Workload, role: str | None, index: int, tail: int | None, follow: bool
) -> Iterator[str]:
    """One replica's log lines from the workload's backend."""
    from mlplatform.compute.backends import get_backend

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
    return get_backend(workload.backend).logs(workload.ref, role, index, tail=tail, follow=follow)


def workload_log_tail(*, workload: Workload, role: str, index: int, lines: int = 200) -> list[str] | None:
    """The last lines of one replica's log for a page, or None when there is none (yet)."""
    if not workload.backend:
        return None
    try:
        return list(workload_logs(workload=workload, role=role, index=index, tail=lines, follow=False))
    except ApplicationError:
        return None


@dataclass(frozen=True)
class QuotaRow:
    project: str
    flavor: str
    cohort: str | None
    nominal: admission.Amounts
    used: admission.Amounts
    cohort_can_lend: admission.Amounts

    @property
    def borrowed(self) -> admission.Amounts:
        return admission.Amounts(
            max(self.used.gpus - self.nominal.gpus, 0),
            max(self.used.cpu - self.nominal.cpu, 0),
            max(self.used.memory_gib - self.nominal.memory_gib, 0),
        )

    # Flat names for serializers and templates.
    nominal_gpus = property(lambda self: self.nominal.gpus)
    used_gpus = property(lambda self: self.used.gpus)
    borrowed_gpus = property(lambda self: self.borrowed.gpus)
    cohort_can_lend_gpus = property(lambda self: self.cohort_can_lend.gpus)
    nominal_cpu = property(lambda self: self.nominal.cpu)
    used_cpu = property(lambda self: self.used.cpu)
    nominal_memory_gib = property(lambda self: self.nominal.memory_gib)
    used_memory_gib = property(lambda self: self.used.memory_gib)

    @property
    def gpu_percent(self) -> int:
        return min(round(100 * self.used.gpus / self.nominal.gpus), 100) if self.nominal.gpus else 0


def quota_board(*, projects: Iterable[Project] | None = None) -> list[QuotaRow]:
    """Each quota row with what its project uses and what the rest of its cohort could lend it
    now: every other member's unused nominal quota, up to its lending limit."""
    quotas = quotas_for_admission()
    used = usage()
    spare: dict[tuple[str, str], list] = {}  # (cohort, flavor) -> [(project, lendable Amounts)]
    for q in quotas:
        if q.cohort:
            u = used.get((q.project, q.flavor), admission.Amounts())
            lendable = [
                max(min(n if lim is None else lim, n - x), 0)
                for n, lim, x in zip(
                    q.nominal.as_tuple(), q.lending_limit.as_tuple(), u.as_tuple(), strict=True
                )
            ]
            spare.setdefault((q.cohort, q.flavor), []).append((q.project, admission.Amounts(*lendable)))
    wanted = {p.slug for p in projects} if projects is not None else None
    rows = []
    for q in quotas:
        if wanted is not None and q.project not in wanted:
            continue
        lend = admission.Amounts()
        for member, amounts in spare.get((q.cohort, q.flavor), []) if q.cohort else []:
            if member != q.project:
                lend = lend + amounts
        rows.append(
            QuotaRow(
                project=q.project,
                flavor=q.flavor,
                cohort=q.cohort,
                nominal=q.nominal,
                used=used.get((q.project, q.flavor), admission.Amounts()),
                cohort_can_lend=lend,
            )
        )
    return sorted(rows, key=lambda r: (r.project, -r.nominal.gpus, r.flavor))


def backend_overview() -> dict:
    """The default backend's name and the optional integrations it detects (display only)."""
    from mlplatform.compute.backends import default_backend_name, get_backend
    from mlplatform.compute.backends.base import BackendError

    name = default_backend_name()
    try:
        return {"name": name, "integrations": get_backend(name).integrations(), "error": ""}
    except BackendError as exc:
        return {"name": name, "integrations": {}, "error": str(exc)}


def default_backend_runs_images() -> bool:
    """Whether the backend new workloads start on runs container images; the local backend runs
    processes of this machine, and only groups that say their local alternative (LocalRun)."""
    from mlplatform.compute.backends import default_backend_name

    return default_backend_name() != "local"
