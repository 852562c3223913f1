"""Admission: which queued workloads may start now, and in plain words why the others wait.

`admit` is a pure function over the queue, the quotas and the current usage. It follows
Kueue's semantics, with this project's names: a project's quota rows per flavor are its
ClusterQueue, a flavor is a ResourceFlavor, projects whose quota rows name the same cohort
lend each other what they do not use, and a Workload (all replicas of a job, a notebook or a
model version) is admitted all-or-nothing. The module uses the standard library and quotas'
pure `Amounts` only (no Django, no database): the admission task loads the rows, calls `admit`
and writes the result back; tests drive it with plain dataclasses.

Quota model (per project x flavor, and per resource: GPUs, vCPUs, memory)
-------------------------------------------------------------------------
* Without a cohort a project may use at most its nominal quota.
* In a cohort, each member puts its lendable part (`lending_limit`, None: all of its nominal)
  into the cohort's pool for that flavor and keeps the rest (nominal - lendable) for itself.
  Whatever a member uses beyond the part it keeps is drawn from the pool, so the pool holds
  every member's unused lendable quota, net of what the others already borrowed. A member may
  use up to nominal + `borrowing_limit` (None: no limit), as long as the pool has room. In
  other words a project borrows from the other members, each of which lends at most
  min(lending limit, its unused nominal), minus what is already lent out.
* A workload fits a flavor when, for every resource it asks for, its project's usage plus the
  request stays within those bounds. A workload fits when it fits every flavor it asks for;
  only then is it admitted, and its usage is counted at once, so two workloads of the same pass
  never both take the last GPU.
* `borrowed` on an Admission is the part of its request that lies above its project's nominal
  quota (with the usage counted before it), per flavor; flavors with nothing borrowed are
  left out.

Order and fairness
------------------
Each project has one queue, ordered by priority (higher first), then creation time (older
first), then the input order. Across projects the pass walks the global order of the same key,
so the oldest workload of the highest priority goes first whatever its project; quotas, not
queue order, are what keeps one busy project from taking everyone's capacity, and borrowing
is bounded by the borrowing limits.

Like Kueue's scheduler, which tries the heads that fit in their nominal quota before the heads
that need to borrow, the walk runs in two phases. The first admits only what fits within each
project's own nominal quota; a project's walk stops (until the second phase) at its first
workload that would need to borrow, so a project's own order is kept. The second phase walks
the same order again and lets workloads borrow. So a lender's own work is not kept out of its
quota by another project's borrower that happened to be older. `admitted` lists admissions in
the order they were made.

* BestEffortFIFO (the default): a workload that does not fit (even by borrowing) is passed
  over and the ones behind it in its project may go ahead.
* StrictFIFO: once a project's workload does not fit, nothing behind it in that project is
  admitted in this pass.
* A workload that can never be admitted (it asks for more than the nominal quota plus the
  most its project could borrow with the whole cohort idle), and one that asks for a flavor its
  project has no quota for, are never tried and never block a StrictFIFO queue: waiting cannot
  help them. The first comes back with `never=True` (the caller fails it); the second waits,
  with a reason saying so, until an admin adds the quota.

Pending workloads get their 1-based position among the pending workloads of their project's
queue, and a one-line reason computed against the usage at the end of the pass. Usage only
grows within a pass, so a workload that did not fit when it was tried does not fit then either.

Out of scope: preemption (within a queue or to reclaim lent quota within a cohort; a lender
whose quota is lent out waits until the borrowers finish, and its reason says so), fair-sharing
weights, flavor fungibility (a workload names its flavors; admission does not pick one),
WaitForPodsReady and partial admission.

Cost: one sort of the queue plus two linear walks, each check O(flavors x 3) against per-pool
aggregates updated incrementally on every admission, and reasons cached per (quota, resource,
amount); 10,000 workloads over 30 projects take about 0.1 s on two cores.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from mlplatform.quotas.amounts import UNLIMITED, Amounts, Limits  # pure, as this module

__all__ = [
    "Admission",
    "AdmissionResult",
    "Amounts",
    "Headroom",
    "Limits",
    "Pending",
    "QueueingStrategy",
    "Quota",
    "Workload",
    "admit",
    "headroom",
]

_ZERO = Decimal(0)
_UNITS = ("", " vCPUs", " GiB")  # after a bare number: "uses 6 of 8", "uses 6 of 8 vCPUs"


class QueueingStrategy(enum.StrEnum):
    STRICT_FIFO = "StrictFIFO"
    BEST_EFFORT_FIFO = "BestEffortFIFO"


@dataclass(frozen=True, slots=True)
class Quota:
    """One project's quota for one flavor (a ProjectQuota row)."""

    project: str
    flavor: str
    nominal: Amounts
    cohort: str | None = None
    borrowing_limit: Limits = UNLIMITED  # ignored without a cohort
    lending_limit: Limits = UNLIMITED  # ignored without a cohort; capped at the nominal quota


@dataclass(frozen=True, slots=True)
class Workload:
    """A queued workload. `requests` are the totals of all its replicas, per flavor name."""

    id: Hashable
    project: str
    priority: int = 0
    created: float | datetime = 0.0
    requests: Mapping[str, Amounts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Admission:
    workload_id: Hashable
    borrowed: dict[str, Amounts] = field(default_factory=dict)  # per flavor, only where > 0


@dataclass(frozen=True, slots=True)
class Pending:
    position: int  # 1-based, among the pending workloads of the project's queue
    reason: str
    never: bool = False  # True: it can never be admitted under the current quotas


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    admitted: list[Admission]
    pending: dict[Hashable, Pending]
    usage: dict[tuple[str, str], Amounts]  # usage after this pass, per (project, flavor)


# --- internal state ------------------------------------------------------------------------


class _Pool:
    """A cohort's shared quota for one flavor: the sum of its members' lendable parts."""

    __slots__ = ("capacity", "members", "used")

    def __init__(self) -> None:
        self.capacity: list = [0, _ZERO, _ZERO]
        self.used: list = [0, _ZERO, _ZERO]  # sum over members of max(0, usage - kept part)
        self.members: list[_Slot] = []


class _Slot:
    """One quota row with its live usage."""

    __slots__ = ("cap", "cohort", "flavor", "kept", "lendable", "most", "nominal", "pool", "project", "used")

    def __init__(self, quota: Quota, used: tuple, pool: _Pool | None) -> None:
        self.project = quota.project
        self.flavor = quota.flavor
        self.cohort = quota.cohort
        self.pool = pool
        self.nominal = quota.nominal.as_tuple()
        self.used = list(used)
        if pool is None:
            self.lendable = (0, _ZERO, _ZERO)
            self.cap = self.nominal
        else:
            self.lendable = tuple(
                n if limit is None else max(min(limit, n), 0)
                for n, limit in zip(self.nominal, quota.lending_limit.as_tuple(), strict=True)
            )
            self.cap = tuple(
                None if limit is None else n + limit
                for n, limit in zip(self.nominal, quota.borrowing_limit.as_tuple(), strict=True)
            )
        self.kept = tuple(n - lendable for n, lendable in zip(self.nominal, self.lendable, strict=True))
        self.most: tuple = ()  # the most it could ever use; set once the pools are complete

    def room(self, i: int):
        """The most of resource `i` one more workload could take now, borrowing included: what is
        left of the part it keeps plus what the pool has free, within its borrowing limit."""
        u, pool = self.used[i], self.pool
        if pool is None:
            return max(self.nominal[i] - u, 0)
        reach = u + max(self.kept[i] - u, 0) + max(pool.capacity[i] - pool.used[i], 0)
        limit = self.cap[i]
        if limit is not None:
            reach = min(reach, limit)
        return max(reach - u, 0)

    def fits(self, request: tuple, borrow: bool) -> bool:
        used, pool = self.used, self.pool
        for i in (0, 1, 2):
            x = request[i]
            if not x:
                continue
            u = used[i]
            new = u + x
            if pool is None:
                if new > self.nominal[i]:
                    return False
                continue
            limit = self.cap[i] if borrow else self.nominal[i]
            if limit is not None and new > limit:
                return False
            kept = self.kept[i]
            delta = (new - kept if new > kept else 0) - (u - kept if u > kept else 0)
            if delta > 0 and pool.used[i] + delta > pool.capacity[i]:
                return False
        return True

    def take(self, request: tuple) -> tuple:
        """Count `request` as used; return what of it lies above the nominal quota."""
        used, pool = self.used, self.pool
        borrowed = []
        for i in (0, 1, 2):
            x = request[i]
            u = used[i]
            new = u + x
            used[i] = new
            n = self.nominal[i]
            borrowed.append((new - n if new > n else 0) - (u - n if u > n else 0))
            if pool is not None and x:
                kept = self.kept[i]
                pool.used[i] += (new - kept if new > kept else 0) - (u - kept if u > kept else 0)
        return tuple(borrowed)


class _Entry:
    __slots__ = ("admitted", "parts", "problem", "workload")

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.parts: list[tuple[_Slot, tuple]] = []
        self.problem: Pending | None = None  # set when it is never tried (no quota, never fits)
        self.admitted = False

    def fits(self, borrow: bool) -> bool:
        return all(slot.fits(request, borrow) for slot, request in self.parts)


def _sort_key(workload: Workload) -> tuple:
    created = workload.created
    if isinstance(created, datetime):
        created = created.timestamp()
    return (-workload.priority, created)


# --- the pass -------------------------------------------------------------------------------


def admit(
    queued: Iterable[Workload],
    quotas: Iterable[Quota],
    usage: Mapping[tuple[str, str], Amounts] | None = None,
    strategies: Mapping[str, str] | None = None,
) -> AdmissionResult:
    """Decide which queued workloads start now.

    `usage` is what already admitted workloads hold per (project, flavor); `strategies` maps a
    project to "StrictFIFO" or "BestEffortFIFO" (the default). Raises ValueError on duplicate
    workload ids, duplicate quota rows, negative requests and unknown strategies.
    """
    usage = usage or {}
    strict = _strict_projects(strategies or {})
    slots = _build_slots(quotas, usage)

    order = sorted(queued, key=_sort_key)
    entries: list[_Entry] = []
    seen: set = set()
    for workload in order:
        if workload.id in seen:
            raise ValueError(f"workload {workload.id!r} is queued twice")
        seen.add(workload.id)
        entries.append(_classify(workload, slots))

    admitted: list[Admission] = []
    candidates = [e for e in entries if e.problem is None]
    behind: set[int] = set()  # ids of entries held back by a StrictFIFO head in the last phase
    for borrow in (False, True):
        blocked: set[str] = set()
        for entry in candidates:
            if entry.admitted:
                continue
            project = entry.workload.project
            if project in blocked:
                if borrow:
                    behind.add(id(entry))
                continue
            if entry.fits(borrow):
                entry.admitted = True
                admitted.append(_take(entry))
            elif project in strict or (not borrow and entry.fits(True)):
                # StrictFIFO holds the rest of the project; so does a workload that fits by
                # borrowing, to be tried first in the borrowing phase.
                blocked.add(project)

    pending = _pending(entries, behind)
    final = dict(usage)
    for key, slot in slots.items():
        final[key] = Amounts(*slot.used)
    return AdmissionResult(admitted=admitted, pending=pending, usage=final)


@dataclass(frozen=True, slots=True)
class Headroom:
    """What one project may take of one flavor now, as admission counts it."""

    free: Amounts  # the most one more workload could be admitted with, borrowing included
    borrowable: Amounts  # the part of `free` above what is left of its own nominal quota
    lendable: Amounts  # what the other members of its cohort could lend it now


def headroom(
    quotas: Iterable[Quota], usage: Mapping[tuple[str, str], Amounts] | None = None
) -> dict[tuple[str, str], Headroom]:
    """Per (project, flavor): what a workload could be admitted with now. The same arithmetic
    as `admit` (cohort pools, lending and borrowing limits, what other members already
    borrow), so the queue page, the forms and the APIs never promise what admission refuses."""
    result = {}
    for key, slot in _build_slots(quotas, usage or {}).items():
        free = Amounts(*(slot.room(i) for i in (0, 1, 2)))
        own = Amounts(*slot.nominal) - Amounts(*slot.used)
        borrowable = (free - own.floor()).floor()
        lendable = Amounts()
        if slot.pool is not None:
            pool_free = [max(c - u, 0) for c, u in zip(slot.pool.capacity, slot.pool.used, strict=True)]
            # The pool's free part, less what is still this project's own (unused and lendable).
            mine = [
                max(min(lend, k + lend - u), 0)
                for lend, k, u in zip(slot.lendable, slot.kept, slot.used, strict=True)
            ]
            lendable = Amounts(*(max(f - m, 0) for f, m in zip(pool_free, mine, strict=True)))
        result[key] = Headroom(free=free, borrowable=borrowable, lendable=lendable)
    return result


def _strict_projects(strategies: Mapping[str, str]) -> set[str]:
    strict = set()
    for project, strategy in strategies.items():
        try:
            value = QueueingStrategy(strategy)
        except ValueError:
            raise ValueError(
                f"unknown queueing strategy {strategy!r} for {project}: use StrictFIFO or BestEffortFIFO"
            ) from None
        if value is QueueingStrategy.STRICT_FIFO:
            strict.add(project)
    return strict


def _build_slots(quotas: Iterable[Quota], usage: Mapping[tuple[str, str], Amounts]) -> dict:
    slots: dict[tuple[str, str], _Slot] = {}
    pools: dict[tuple[str, str], _Pool] = {}
    for quota in quotas:
        key = (quota.project, quota.flavor)
        if key in slots:
            raise ValueError(f"two quotas for {quota.project} / {quota.flavor}")
        pool = None
        if quota.cohort is not None:
            pool = pools.get((quota.cohort, quota.flavor))
            if pool is None:
                pool = pools[(quota.cohort, quota.flavor)] = _Pool()
        used = usage.get(key)
        slot = _Slot(quota, used.as_tuple() if used is not None else (0, _ZERO, _ZERO), pool)
        slots[key] = slot
        if pool is not None:
            pool.members.append(slot)
            for i in (0, 1, 2):
                pool.capacity[i] += slot.lendable[i]
                over = slot.used[i] - slot.kept[i]
                if over > 0:
                    pool.used[i] += over
    for slot in slots.values():
        if slot.pool is None:
            slot.most = slot.nominal
        else:
            reach = tuple(k + c for k, c in zip(slot.kept, slot.pool.capacity, strict=True))
            slot.most = tuple(
                r if cap is None else min(cap, r) for cap, r in zip(slot.cap, reach, strict=True)
            )
    return slots


def _classify(workload: Workload, slots: dict) -> _Entry:
    entry = _Entry(workload)
    for flavor, amounts in workload.requests.items():
        request = amounts.as_tuple()
        if any(x < 0 for x in request):
            raise ValueError(f"workload {workload.id!r} asks for a negative amount of {flavor}")
        if not any(request):
            continue
        slot = slots.get((workload.project, flavor))
        if slot is None:
            if entry.problem is None:
                entry.problem = Pending(
                    0,
                    f"{workload.project} has no quota for {flavor}: "
                    "it waits until an admin adds one, or asks for another flavor",
                )
            continue
        for i in (0, 1, 2):
            if request[i] > slot.most[i]:
                entry.problem = Pending(0, _never_reason(slot, i, request[i]), never=True)
                return entry
        entry.parts.append((slot, request))
    return entry


def _take(entry: _Entry) -> Admission:
    borrowed = {}
    for slot, request in entry.parts:
        part = slot.take(request)
        if any(part):
            borrowed[slot.flavor] = Amounts(*part)
    return Admission(workload_id=entry.workload.id, borrowed=borrowed)


def _pending(entries: list[_Entry], behind: set[int]) -> dict[Hashable, Pending]:
    pending: dict[Hashable, Pending] = {}
    # per project: [pending so far, priority of the last one, how many pending had a higher one]
    queues: dict[str, list] = {}
    borrowers_cache: dict = {}
    for entry in entries:
        if entry.admitted:
            continue
        workload = entry.workload
        queue = queues.get(workload.project)
        if queue is None:
            queue = queues[workload.project] = [0, workload.priority, 0]
        elif workload.priority != queue[1]:  # the queue is sorted: a lower priority starts
            queue[1], queue[2] = workload.priority, queue[0]
        queue[0] += 1
        position = queue[0]
        if entry.problem is not None:
            pending[workload.id] = Pending(position, entry.problem.reason, entry.problem.never)
        elif id(entry) in behind:
            pending[workload.id] = Pending(position, _behind_reason(workload, position - 1, queue[2]), False)
        else:
            pending[workload.id] = Pending(position, _shortage_reason(entry, borrowers_cache), False)
    return pending


# --- reasons -------------------------------------------------------------------------------


def _num(value: object) -> str:
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    return str(value)


def _amount(i: int, value: object, flavor: str) -> str:
    if i == 0:
        return f"{_num(value)} x {flavor}"
    if i == 1:
        return f"{_num(value)} vCPUs of {flavor}"
    return f"{_num(value)} GiB of memory of {flavor}"


def _never_reason(slot: _Slot, i: int, x: object) -> str:
    unit = _UNITS[i]
    head = f"needs {_amount(i, x, slot.flavor)} but {slot.project}'s quota is {_num(slot.nominal[i])}{unit}"
    if slot.pool is None:
        tail = "and it has no cohort to borrow from"
    else:
        others = slot.pool.capacity[i] - slot.lendable[i]
        limit = slot.cap[i]
        if limit is not None and limit == slot.nominal[i]:
            tail = "and its borrowing limit is 0"
        elif limit is not None and limit - slot.nominal[i] < others:
            tail = f"and it may borrow at most {_num(limit - slot.nominal[i])}{unit}"
        else:
            tail = f"and its cohort can lend at most {_num(others)}{unit}"
    return f"{head} {tail}: it can never be admitted"


def _behind_reason(workload: Workload, ahead: int, higher: int) -> str:
    kind = "older" if higher == 0 else "higher-priority" if higher == ahead else "older or higher-priority"
    noun = "workload" if ahead == 1 else "workloads"
    return f"waiting behind {ahead} {kind} {noun} of {workload.project} (StrictFIFO)"


def _borrowers(slot: _Slot, i: int, cache: dict) -> str:
    """Who in the slot's cohort uses more than its nominal quota of this resource, biggest first."""
    key = (id(slot.pool), i)
    if key not in cache:
        rows = [
            (member.used[i] - member.nominal[i], member.project)
            for member in slot.pool.members
            if member.used[i] > member.nominal[i]
        ]
        rows.sort(key=lambda row: (-row[0], row[1]))
        cache[key] = rows
    unit = _UNITS[i]
    rows = [row for row in cache[key] if row[1] != slot.project]
    words = [f"{project} borrows {_num(amount)}{unit}" for amount, project in rows[:3]]
    if len(rows) > 3:
        words.append(f"and {len(rows) - 3} more")
    return ", ".join(words)


def _shortage_reason(entry: _Entry, cache: dict) -> str:
    """What it waits for: the first short resource of each flavor that is short, in request order."""
    reasons = []
    for slot, request in entry.parts:
        if slot.fits(request, borrow=True):
            continue
        for i in (0, 1, 2):
            if request[i] and not slot.fits(tuple(request[j] if j == i else 0 for j in (0, 1, 2)), True):
                key = ("reason", id(slot), i, request[i])  # the state is final: same shortage, same words
                reason = cache.get(key)
                if reason is None:
                    reason = cache[key] = _waiting_reason(slot, i, request[i], cache)
                reasons.append(reason)
                break
    # Usage only grows within a pass, so what did not fit when tried does not fit now either.
    return "; also ".join(reasons) or "waiting for quota"


def _waiting_reason(slot: _Slot, i: int, x: object, cache: dict) -> str:
    unit = _UNITS[i]
    u, n = slot.used[i], slot.nominal[i]
    head = f"waiting for {_amount(i, x, slot.flavor)}: {slot.project} uses {_num(u)} of {_num(n)}{unit}"
    new = u + x
    pool = slot.pool
    if pool is None:
        return f"{head} and has no cohort to borrow from"
    limit = slot.cap[i]
    if limit is not None and new > limit:
        if u > n:
            return f"{head} and already borrows {_num(u - n)} of at most {_num(limit - n)}{unit}"
        if limit == n:
            return f"{head} and its borrowing limit is 0"
        return f"{head} and may borrow at most {_num(limit - n)}{unit}"
    who = _borrowers(slot, i, cache)
    if new <= n:  # within its own quota, but that is lent out: reclaiming it needs preemption
        if not who:  # lending limits were lowered under the cohort's current usage
            return f"{head} and the rest is in use by its cohort"
        return f"{head} and the rest is lent out in its cohort ({who}) until those workloads finish"
    can_borrow = max(u + slot.room(i) - max(u, n), 0)
    lend = (
        "the cohort has none to lend"
        if not can_borrow
        else f"the cohort can lend only {_num(can_borrow)}{unit}"
    )
    return f"{head}, {lend}" + (f" ({who})" if who else "")
