"""Admission against quotas, cohorts and queueing strategies: pure functions, no database."""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from mlplatform.compute.admission import (
    Admission,
    Amounts,
    Limits,
    Quota,
    Workload,
    admit,
    headroom,
)

A100 = "nvidia-a100-80gb"
H100 = "nvidia-h100-80gb"
T4 = "nvidia-t4"


def gpus(n: int, cpu: int = 0, memory: int = 0) -> Amounts:
    return Amounts(gpus=n, cpu=Decimal(cpu), memory_gib=Decimal(memory))


def job(wid: str, project: str = "team-a", n: int = 1, *, flavor: str = A100, priority: int = 0, created=0.0):
    return Workload(id=wid, project=project, priority=priority, created=created, requests={flavor: gpus(n)})


def admitted_ids(result) -> list:
    return [a.workload_id for a in result.admitted]


# --- Amounts ---------------------------------------------------------------------------------


def test_amounts_add_subtract_and_compare_resource_by_resource():
    a = Amounts(gpus=2, cpu=16, memory_gib="64.5")
    b = Amounts(gpus=1, cpu=Decimal(4), memory_gib=Decimal("0.5"))

    assert a + b == Amounts(3, Decimal(20), Decimal(65))
    assert a - b == Amounts(1, Decimal(12), Decimal(64))
    assert b <= a
    assert b.fits(a)
    assert not a.fits(b)
    # A partial order: neither fits in the other.
    c = Amounts(gpus=4)
    assert not c <= a
    assert not a <= c
    assert Amounts().is_zero


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    return names - {"__future__"}


def test_the_module_is_pure_and_runs_without_django_settings():
    # Given admission and the amounts it counts in
    root = Path(__file__).resolve().parents[2]
    admission_imports = _imports(root / "mlplatform" / "compute" / "admission.py")
    amounts_imports = _imports(root / "mlplatform" / "quotas" / "amounts.py")
    # Then they import the standard library and each other only
    stdlib = sys.stdlib_module_names
    assert {name for name in admission_imports if name.split(".")[0] not in stdlib} == {
        "mlplatform.quotas.amounts"
    }
    assert all(name.split(".")[0] in stdlib for name in amounts_imports)
    # And a pass runs in a fresh interpreter with no Django settings
    code = (
        "from mlplatform.compute import admission as module\n"
        "r = module.admit([module.Workload('w', 'p', requests={'f': module.Amounts(1)})],"
        " [module.Quota('p', 'f', module.Amounts(1))])\n"
        "assert [a.workload_id for a in r.admitted] == ['w']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env={"PATH": "/usr/bin:/bin"})


# --- within quota ------------------------------------------------------------------------------


def test_admits_workloads_within_quota_and_counts_their_usage():
    # Given team-a has 8 A100s and uses 2
    quotas = [Quota("team-a", A100, gpus(8, 64, 256))]
    usage = {("team-a", A100): gpus(2, 16, 64)}
    queued = [
        Workload("w1", "team-a", created=1, requests={A100: gpus(4, 32, 128)}),
        Workload("w2", "team-a", created=2, requests={A100: gpus(2, 16, 64)}),
    ]

    # When admission runs
    result = admit(queued, quotas, usage)

    # Then both are admitted without borrowing and the quota is exactly full
    assert result.admitted == [Admission("w1", {}), Admission("w2", {})]
    assert result.pending == {}
    assert result.usage[("team-a", A100)] == gpus(8, 64, 256)


def test_cpu_and_memory_count_as_well_as_gpus():
    # Given team-a's A100 quota has GPUs to spare but only 32 vCPUs
    quotas = [Quota("team-a", A100, gpus(8, 32, 512))]
    queued = [Workload("w1", "team-a", requests={A100: gpus(1, 48, 16)})]

    # When admission runs
    result = admit(queued, quotas, {("team-a", A100): gpus(0, 0, 0)})

    # Then it can never run: the CPU request is above the quota
    assert result.admitted == []
    pending = result.pending["w1"]
    assert pending.never
    assert pending.reason == (
        f"needs 48 vCPUs of {A100} but team-a's quota is 32 vCPUs and it has no cohort to borrow from: "
        "it can never be admitted"
    )


def test_two_workloads_competing_for_the_last_gpu_only_one_is_admitted():
    # Given team-a and team-b share a cohort whose only free GPU is team-a's last one
    quotas = [Quota("team-a", A100, gpus(4), "lab"), Quota("team-b", A100, gpus(4), "lab")]
    usage = {("team-a", A100): gpus(3), ("team-b", A100): gpus(4)}
    queued = [job("a", "team-a", 1, created=2), job("b", "team-b", 1, created=1)]

    # When admission runs
    result = admit(queued, quotas, usage)

    # Then only one gets it: team-a's own workload goes first (nominal before borrowing)
    assert admitted_ids(result) == ["a"]
    assert (
        result.pending["b"].reason
        == f"waiting for 1 x {A100}: team-b uses 4 of 4, the cohort has none to lend"
    )
    assert result.usage[("team-a", A100)] == gpus(4)
    assert result.usage[("team-b", A100)] == gpus(4)


def test_the_last_gpu_goes_to_the_older_of_two_workloads_of_one_project():
    quotas = [Quota("team-a", A100, gpus(1))]
    queued = [job("new", n=1, created=2), job("old", n=1, created=1)]

    result = admit(queued, quotas, {})

    assert admitted_ids(result) == ["old"]
    assert (
        result.pending["new"].reason
        == f"waiting for 1 x {A100}: team-a uses 1 of 1 and has no cohort to borrow from"
    )


# --- gangs ---------------------------------------------------------------------------------------


def test_a_multi_flavor_gang_is_all_or_nothing():
    # Given team-a has room for A100s but its T4s are all in use
    quotas = [Quota("team-a", A100, gpus(8)), Quota("team-a", T4, gpus(2))]
    usage = {("team-a", T4): gpus(2)}
    gang = Workload("gang", "team-a", created=1, requests={A100: gpus(8), T4: gpus(1)})
    later = job("later", "team-a", 8, created=2)

    # When admission runs
    result = admit([gang, later], quotas, usage)

    # Then no part of the gang is admitted and it consumes nothing: the later job gets all A100s
    assert admitted_ids(result) == ["later"]
    assert result.pending["gang"].reason == (
        f"waiting for 8 x {A100}: team-a uses 8 of 8 and has no cohort to borrow from; "
        f"also waiting for 1 x {T4}: team-a uses 2 of 2 and has no cohort to borrow from"
    )
    assert result.usage[("team-a", A100)] == gpus(8)
    assert result.usage[("team-a", T4)] == gpus(2)


def test_a_gang_needs_all_its_replicas_at_once():
    # Given 6 free GPUs and a gang of 8 (totals of all replicas)
    quotas = [Quota("team-a", A100, gpus(8))]

    result = admit([job("gang", n=8)], quotas, {("team-a", A100): gpus(2)})

    # Then it waits rather than starting 6 of its 8 replicas
    assert result.admitted == []
    assert result.usage[("team-a", A100)] == gpus(2)
    assert not result.pending["gang"].never


# --- order ---------------------------------------------------------------------------------------


def test_priority_first_then_age():
    # Given room for two of four jobs
    quotas = [Quota("team-a", A100, gpus(2))]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    queued = [
        job("low-old", priority=0, created=t0),
        job("high-new", priority=10, created=t0 + timedelta(minutes=5)),
        job("high-old", priority=10, created=t0 + timedelta(minutes=1)),
        job("low-new", priority=0, created=t0 + timedelta(minutes=9)),
    ]

    # When admission runs
    result = admit(queued, quotas, {})

    # Then the high-priority ones are admitted oldest first, and the queue shows the rest in order
    assert admitted_ids(result) == ["high-old", "high-new"]
    assert result.pending["low-old"].position == 1
    assert result.pending["low-new"].position == 2


def test_priority_wins_across_projects_in_a_cohort():
    # Given two projects that lend each other everything, and two free GPUs in total
    quotas = [Quota("team-a", A100, gpus(1), "lab"), Quota("team-b", A100, gpus(1), "lab")]
    queued = [
        job("a-low", "team-a", 2, priority=0, created=1),
        job("b-high", "team-b", 2, priority=5, created=2),
    ]

    result = admit(queued, quotas, {})

    assert result.admitted == [Admission("b-high", {A100: gpus(1)})]
    assert "a-low" in result.pending


def test_positions_count_1_to_n_within_each_project():
    # Given a full quota for two projects and a mixed queue
    quotas = [Quota("team-a", A100, gpus(0)), Quota("team-b", A100, gpus(0))]
    queued = [
        job("a3", "team-a", created=30),
        job("b1", "team-b", created=5),
        job("a1", "team-a", created=10, priority=1),
        job("a2", "team-a", created=20, priority=1),
        job("b2", "team-b", created=6),
    ]

    result = admit(queued, quotas, {})

    positions = {wid: p.position for wid, p in result.pending.items()}
    assert positions == {"a1": 1, "a2": 2, "a3": 3, "b1": 1, "b2": 2}


# --- strategies ----------------------------------------------------------------------------------


def strategy_case(strategy: str):
    quotas = [Quota("team-a", A100, gpus(8))]
    usage = {("team-a", A100): gpus(6)}
    queued = [
        job("big", n=4, created=1),
        job("small-1", n=1, created=2),
        job("small-2", n=1, created=3),
        job("small-3", n=1, created=4),
    ]
    return admit(queued, quotas, usage, {"team-a": strategy})


def test_strict_fifo_holds_everything_behind_a_head_that_does_not_fit():
    # Given team-a uses 6 of 8 and its oldest job needs 4
    # When admission runs under StrictFIFO
    result = strategy_case("StrictFIFO")

    # Then nothing is admitted, and the others say what they wait behind
    assert result.admitted == []
    assert (
        result.pending["big"].reason
        == f"waiting for 4 x {A100}: team-a uses 6 of 8 and has no cohort to borrow from"
    )
    assert result.pending["small-1"].reason == "waiting behind 1 older workload of team-a (StrictFIFO)"
    assert result.pending["small-3"].reason == "waiting behind 3 older workloads of team-a (StrictFIFO)"
    assert [result.pending[w].position for w in ("big", "small-1", "small-2", "small-3")] == [1, 2, 3, 4]


def test_best_effort_fifo_lets_smaller_later_workloads_go_ahead():
    # When the same queue runs under BestEffortFIFO (the default)
    result = strategy_case("BestEffortFIFO")

    # Then the small ones take the two free GPUs, oldest first, and the big one keeps position 1
    assert admitted_ids(result) == ["small-1", "small-2"]
    assert result.pending["big"].position == 1
    assert result.pending["small-3"].position == 2
    assert result.pending["small-3"].reason == (
        f"waiting for 1 x {A100}: team-a uses 8 of 8 and has no cohort to borrow from"
    )


def test_strict_fifo_reason_names_higher_priority_workloads():
    quotas = [Quota("team-a", A100, gpus(1))]
    queued = [job("urgent", priority=9, created=5), job("routine", priority=0, created=1)]

    result = admit(queued, quotas, {("team-a", A100): gpus(1)}, {"team-a": "StrictFIFO"})

    assert (
        result.pending["routine"].reason == "waiting behind 1 higher-priority workload of team-a (StrictFIFO)"
    )


def test_strict_fifo_is_per_project():
    # Given team-a is blocked under StrictFIFO
    quotas = [Quota("team-a", A100, gpus(2)), Quota("team-b", A100, gpus(1))]
    usage = {("team-a", A100): gpus(1)}
    queued = [job("a-big", "team-a", 2, created=1), job("a-small", "team-a", 1, created=2)]
    queued.append(job("b", "team-b", 1, created=3))

    result = admit(queued, quotas, usage, {"team-a": "StrictFIFO", "team-b": "StrictFIFO"})

    # Then team-b is not held back by it
    assert admitted_ids(result) == ["b"]


def test_a_workload_that_can_never_fit_does_not_block_a_strict_fifo_queue():
    quotas = [Quota("team-a", A100, gpus(8))]
    queued = [job("huge", n=16, created=1), job("ok", n=4, created=2)]

    result = admit(queued, quotas, {}, {"team-a": "StrictFIFO"})

    assert admitted_ids(result) == ["ok"]
    assert result.pending["huge"].never


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown queueing strategy"):
        admit([], [], {}, {"team-a": "LIFO"})


# --- borrowing -----------------------------------------------------------------------------------


def test_borrows_from_the_cohort_and_records_what_it_borrowed():
    # Given team-a (8 A100s) and an idle team-b (8 A100s) in one cohort
    quotas = [Quota("team-a", A100, gpus(8), "lab"), Quota("team-b", A100, gpus(8), "lab")]

    # When team-a asks for 12
    result = admit([job("w", "team-a", 12)], quotas, {})

    # Then it is admitted, borrowing 4
    assert result.admitted == [Admission("w", {A100: gpus(4)})]
    assert result.usage[("team-a", A100)] == gpus(12)


def test_borrowing_stops_at_the_borrowing_limit():
    # Given team-a may borrow at most 2 GPUs from an idle cohort
    quotas = [
        Quota("team-a", A100, gpus(8), "lab", borrowing_limit=Limits(gpus=2)),
        Quota("team-b", A100, gpus(8), "lab"),
    ]
    queued = [
        job("w1", "team-a", 9, created=1),
        job("w2", "team-a", 2, created=2),
        job("w3", "team-a", 1, created=3),
    ]

    # When admission runs
    result = admit(queued, quotas, {})

    # Then it uses 10 at most: 8 of its own and 2 borrowed, and the older job that fits by
    # borrowing keeps its place ahead of the smaller ones of its own project
    assert result.admitted == [Admission("w1", {A100: gpus(1)}), Admission("w3", {A100: gpus(1)})]
    assert result.usage[("team-a", A100)] == gpus(10)
    assert result.pending["w2"].reason == (
        f"waiting for 2 x {A100}: team-a uses 10 of 8 and already borrows 2 of at most 2"
    )


def test_lenders_lend_no_more_than_their_lending_limit():
    # Given team-b lends at most 3 of its 8 GPUs and team-c lends all of its 2
    quotas = [
        Quota("team-a", A100, gpus(0), "lab"),
        Quota("team-b", A100, gpus(8), "lab", lending_limit=Limits(gpus=3)),
        Quota("team-c", A100, gpus(2), "lab"),
    ]

    # When team-a, which has no quota of its own, asks for 4 then 2
    result = admit([job("w1", "team-a", 4, created=1), job("w2", "team-a", 2, created=2)], quotas, {})

    # Then it gets 4 of the 5 lendable GPUs, and the second job waits for what is left
    assert result.admitted == [Admission("w1", {A100: gpus(4)})]
    assert (
        result.pending["w2"].reason
        == f"waiting for 2 x {A100}: team-a uses 4 of 0, the cohort can lend only 1"
    )


def test_a_lender_keeps_the_part_above_its_lending_limit_for_itself():
    # Given team-b lends at most 3 of 8, and team-a has borrowed those 3
    quotas = [
        Quota("team-a", A100, gpus(0), "lab"),
        Quota("team-b", A100, gpus(8), "lab", lending_limit=Limits(gpus=3)),
    ]
    usage = {("team-a", A100): gpus(3)}

    # When team-b asks for the 5 it kept, and team-a for one more
    result = admit([job("b", "team-b", 5, created=2), job("a", "team-a", 1, created=1)], quotas, usage)

    # Then team-b gets them and team-a waits
    assert admitted_ids(result) == ["b"]
    assert (
        result.pending["a"].reason
        == f"waiting for 1 x {A100}: team-a uses 3 of 0, the cohort has none to lend"
    )


def test_a_lenders_unused_quota_is_lendable_only_while_unused():
    # Given team-b uses 6 of its 8 GPUs with no lending limit
    quotas = [Quota("team-a", A100, gpus(4), "lab"), Quota("team-b", A100, gpus(8), "lab")]
    usage = {("team-a", A100): gpus(4), ("team-b", A100): gpus(6)}

    result = admit([job("w1", "team-a", 2, created=1), job("w2", "team-a", 1, created=2)], quotas, usage)

    # Then team-a borrows its 2 unused GPUs and no more
    assert result.admitted == [Admission("w1", {A100: gpus(2)})]
    assert result.pending["w2"].reason == (
        f"waiting for 1 x {A100}: team-a uses 6 of 4, the cohort has none to lend"
    )


# --- headroom: what the pages and APIs may promise -------------------------------------------


THREE_MEMBER_LAB = [
    Quota("team-a", A100, gpus(2), "lab"),
    Quota("team-b", A100, gpus(8), "lab"),
    Quota("team-c", A100, gpus(4), "lab"),
]


def test_headroom_counts_what_a_third_member_already_borrows():
    # Given a three-member cohort where team-c uses 6 of its 4 (borrowing 2 of team-b's 8)
    usage = {("team-c", A100): gpus(6)}
    # When team-a asks what it may take
    room = headroom(THREE_MEMBER_LAB, usage)[("team-a", A100)]
    # Then 8 in all: its own 2 and 6 borrowed (team-b's 8 less the 2 team-c holds), not 2 + 8
    assert (room.free.gpus, room.borrowable.gpus, room.lendable.gpus) == (8, 6, 6)
    # And admission agrees: 8 is admitted, 9 is not
    assert admitted_ids(admit([job("w8", "team-a", 8)], THREE_MEMBER_LAB, usage)) == ["w8"]
    assert admitted_ids(admit([job("w9", "team-a", 9)], THREE_MEMBER_LAB, usage)) == []


@pytest.mark.parametrize("seed", range(25))
def test_headroom_is_exactly_the_largest_request_admission_grants(seed):
    # Given random cohorts with limits and usage
    rng = random.Random(seed)
    quotas, usage = [], {}
    for i in range(rng.randint(1, 4)):
        nominal = rng.randint(0, 8)
        lend = rng.choice([None, rng.randint(0, nominal)])
        borrow = rng.choice([None, rng.randint(0, 6)])
        cohort = rng.choice(["lab", "lab", None])
        quotas.append(
            Quota(f"p{i}", A100, gpus(nominal), cohort, Limits(gpus=borrow), Limits(gpus=lend))
            if cohort
            else Quota(f"p{i}", A100, gpus(nominal))
        )
        if rng.random() < 0.7:
            usage[(f"p{i}", A100)] = gpus(rng.randint(0, nominal + 3))
    rooms = headroom(quotas, usage)
    for quota in quotas:
        free = rooms[(quota.project, A100)].free.gpus
        # Then a request of `free` GPUs is admitted and one more is not
        if free:
            assert admitted_ids(admit([job("fits", quota.project, free)], quotas, usage)) == ["fits"]
        assert admitted_ids(admit([job("more", quota.project, free + 1)], quotas, usage)) == []


def test_no_borrowing_without_a_cohort():
    # Given team-a has no cohort and team-b has idle GPUs
    quotas = [Quota("team-a", A100, gpus(8)), Quota("team-b", A100, gpus(8))]

    result = admit([job("w", "team-a", 10)], quotas, {})

    # Then team-a cannot borrow them: the workload can never be admitted
    assert result.admitted == []
    assert result.pending["w"].never
    assert result.pending["w"].reason == (
        f"needs 10 x {A100} but team-a's quota is 8 and it has no cohort to borrow from: "
        "it can never be admitted"
    )


def test_cohorts_do_not_lend_across_each_other_or_across_flavors():
    quotas = [
        Quota("team-a", A100, gpus(1), "lab"),
        Quota("team-b", A100, gpus(8), "other"),
        Quota("team-c", H100, gpus(8), "lab"),
    ]

    result = admit([job("w", "team-a", 2)], quotas, {})

    assert result.pending["w"].never


def test_own_quota_before_borrowing_even_for_an_older_borrower():
    # Given team-b (older job) wants to borrow all of idle team-a's quota, and team-a wants its own
    quotas = [Quota("team-a", A100, gpus(4), "lab"), Quota("team-b", A100, gpus(4), "lab")]
    usage = {("team-b", A100): gpus(4)}
    queued = [job("b", "team-b", 4, created=1), job("a", "team-a", 4, created=2)]

    # When admission runs
    result = admit(queued, quotas, usage)

    # Then team-a's workload fits in its own quota and goes first; team-b waits
    assert admitted_ids(result) == ["a"]
    assert (
        result.pending["b"].reason
        == f"waiting for 4 x {A100}: team-b uses 4 of 4, the cohort has none to lend"
    )


def test_lent_out_quota_is_not_reclaimed_by_preemption():
    # Given team-b borrows 6 of team-a's 8 GPUs
    quotas = [Quota("team-a", A100, gpus(8), "lab"), Quota("team-b", A100, gpus(2), "lab")]
    usage = {("team-a", A100): gpus(0), ("team-b", A100): gpus(8)}

    # When team-a asks for 4 of its own
    result = admit([job("a", "team-a", 4)], quotas, usage)

    # Then it waits (no preemption) and the reason says who holds its quota
    assert result.admitted == []
    assert result.pending["a"].reason == (
        f"waiting for 4 x {A100}: team-a uses 0 of 8 and the rest is lent out in its cohort "
        "(team-b borrows 6) until those workloads finish"
    )


# --- reasons ------------------------------------------------------------------------------------


def test_reason_when_the_cohort_has_none_to_lend():
    # Given team-a uses 6 of 8 and the rest of its cohort is busy with its own quota
    quotas = [Quota("team-a", A100, gpus(8), "lab"), Quota("team-b", A100, gpus(4), "lab")]
    usage = {("team-a", A100): gpus(6), ("team-b", A100): gpus(4)}

    result = admit([job("w", "team-a", 4)], quotas, usage)

    assert (
        result.pending["w"].reason
        == f"waiting for 4 x {A100}: team-a uses 6 of 8, the cohort has none to lend"
    )
    assert not result.pending["w"].never


def test_reason_names_the_borrowers_in_the_cohort():
    quotas = [Quota(p, A100, gpus(4), "lab") for p in ("team-a", "team-b", "team-c")]
    usage = {("team-a", A100): gpus(4), ("team-b", A100): gpus(7), ("team-c", A100): gpus(1)}

    result = admit([job("w", "team-a", 1)], quotas, usage)

    assert result.pending["w"].reason == (
        f"waiting for 1 x {A100}: team-a uses 4 of 4, the cohort has none to lend (team-b borrows 3)"
    )


def test_reason_when_it_can_never_be_admitted_even_with_the_cohort_idle():
    # Given team-a has 8 H100s and its cohort lends at most 4
    quotas = [
        Quota("team-a", H100, gpus(8), "lab"),
        Quota("team-b", H100, gpus(8), "lab", lending_limit=Limits(gpus=4)),
    ]

    # When it asks for 16, and for 12
    result = admit([job("w16", "team-a", 16, flavor=H100), job("w12", "team-a", 12, flavor=H100)], quotas, {})

    # Then 16 can never be admitted, 12 can (borrowing 4)
    assert result.pending["w16"] == result.pending["w16"].__class__(
        position=1,
        reason=(
            f"needs 16 x {H100} but team-a's quota is 8 and its cohort can lend at most 4: "
            "it can never be admitted"
        ),
        never=True,
    )
    assert result.admitted == [Admission("w12", {H100: gpus(4)})]


def test_never_names_the_borrowing_limit_when_that_is_what_binds():
    quotas = [
        Quota("team-a", H100, gpus(8), "lab", borrowing_limit=Limits(gpus=2)),
        Quota("team-b", H100, gpus(8), "lab"),
    ]

    result = admit([job("w", "team-a", 11, flavor=H100)], quotas, {})

    assert result.pending["w"].never
    assert result.pending["w"].reason == (
        f"needs 11 x {H100} but team-a's quota is 8 and it may borrow at most 2: it can never be admitted"
    )


def test_reasons_for_a_borrowing_limit_of_zero():
    # Given team-a may not borrow at all, though its cohort is idle
    quotas = [
        Quota("team-a", A100, gpus(4), "lab", borrowing_limit=Limits(gpus=0)),
        Quota("team-b", A100, gpus(4), "lab"),
    ]
    usage = {("team-a", A100): gpus(3)}

    result = admit([job("w2", "team-a", 2), job("w5", "team-a", 5)], quotas, usage)

    assert result.admitted == []
    assert (
        result.pending["w2"].reason
        == f"waiting for 2 x {A100}: team-a uses 3 of 4 and its borrowing limit is 0"
    )
    assert result.pending["w5"].reason == (
        f"needs 5 x {A100} but team-a's quota is 4 and its borrowing limit is 0: it can never be admitted"
    )


def test_a_flavor_without_a_quota_row_stays_pending_with_a_clear_reason():
    # Given team-a has A100 quota only
    quotas = [Quota("team-a", A100, gpus(8))]
    queued = [Workload("w", "team-a", requests={A100: gpus(1), H100: gpus(1)})]

    # When it asks for an H100 as well
    result = admit(queued, quotas, {})

    # Then it waits (an admin may add the quota), and none of its A100s are taken
    assert result.admitted == []
    assert result.pending["w"].reason == (
        f"team-a has no quota for {H100}: it waits until an admin adds one, or asks for another flavor"
    )
    assert not result.pending["w"].never
    assert result.usage[("team-a", A100)] == gpus(0)


def test_bad_input_is_refused():
    quotas = [Quota("team-a", A100, gpus(8))]
    with pytest.raises(ValueError, match="queued twice"):
        admit([job("w"), job("w")], quotas, {})
    with pytest.raises(ValueError, match="two quotas"):
        admit([], quotas * 2, {})
    with pytest.raises(ValueError, match="negative"):
        admit([job("w", n=-1)], quotas, {})


# --- properties ---------------------------------------------------------------------------------

RES = ("gpus", "cpu", "memory_gib")


def kept_and_lendable(q: Quota) -> tuple[tuple, tuple]:
    nominal = q.nominal.as_tuple()
    if q.cohort is None:
        return nominal, (0, 0, 0)
    lend = tuple(
        n if limit is None else max(min(limit, n), 0)
        for n, limit in zip(nominal, q.lending_limit.as_tuple(), strict=True)
    )
    return tuple(n - ln for n, ln in zip(nominal, lend, strict=True)), lend


class Oracle:
    """An independent, slow statement of the quota rules, for checking results."""

    def __init__(self, quotas: list[Quota], usage: dict):
        self.quotas = {(q.project, q.flavor): q for q in quotas}
        self.usage = {key: usage.get(key, Amounts()) for key in self.quotas}
        self.members = defaultdict(list)
        for q in quotas:
            if q.cohort is not None:
                self.members[(q.cohort, q.flavor)].append(q)

    def within_bounds(self, key, used: Amounts) -> bool:
        q = self.quotas[key]
        for i in range(3):
            u, n = used.as_tuple()[i], q.nominal.as_tuple()[i]
            if q.cohort is None:
                if u > n:
                    return False
            else:
                limit = q.borrowing_limit.as_tuple()[i]
                if limit is not None and u > n + limit:
                    return False
        return True

    def pool_ok(self, cohort, flavor, override: dict) -> bool:
        members = self.members[(cohort, flavor)]
        for i in range(3):
            capacity = used = 0
            for m in members:
                kept, lend = kept_and_lendable(m)
                u = override.get((m.project, flavor), self.usage[(m.project, flavor)]).as_tuple()[i]
                capacity += lend[i]
                used += max(u - kept[i], 0)
            if used > capacity:
                return False
        return True

    def fits(self, w: Workload) -> bool:
        for flavor, req in w.requests.items():
            key = (w.project, flavor)
            if key not in self.quotas:
                return False
            new = self.usage[key] + req
            # Only resources it asks for are checked.
            probe = Amounts(*(x if r else 0 for x, r in zip(new.as_tuple(), req.as_tuple(), strict=True)))
            if not self.within_bounds(key, probe):
                return False
            q = self.quotas[key]
            if q.cohort is not None:
                for i in range(3):
                    if req.as_tuple()[i] and not self.pool_ok_resource(q.cohort, flavor, key, new, i):
                        return False
        return True

    def pool_ok_resource(self, cohort, flavor, key, new, i) -> bool:
        before = self.pool_used(cohort, flavor, {}, i)
        after = self.pool_used(cohort, flavor, {key: new}, i)
        capacity = sum(kept_and_lendable(m)[1][i] for m in self.members[(cohort, flavor)])
        return after <= before or after <= capacity

    def pool_used(self, cohort, flavor, override, i):
        total = 0
        for m in self.members[(cohort, flavor)]:
            kept, _ = kept_and_lendable(m)
            u = override.get((m.project, flavor), self.usage[(m.project, flavor)]).as_tuple()[i]
            total += max(u - kept[i], 0)
        return total

    def never(self, w: Workload) -> bool:
        for flavor, req in w.requests.items():
            q = self.quotas.get((w.project, flavor))
            if q is None:
                continue
            for i in range(3):
                most = q.nominal.as_tuple()[i]
                if q.cohort is not None:
                    # All of its own quota, and all the others' lendable quota.
                    most += sum(
                        kept_and_lendable(m)[1][i] for m in self.members[(q.cohort, flavor)] if m is not q
                    )
                    limit = q.borrowing_limit.as_tuple()[i]
                    if limit is not None:
                        most = min(most, q.nominal.as_tuple()[i] + limit)
                if req.as_tuple()[i] > most:
                    return True
        return False


def check_invariants(queued, quotas, usage, strategies, result) -> None:
    by_id = {w.id: w for w in queued}
    admitted = admitted_ids(result)
    # Every workload is either admitted once or pending.
    assert len(admitted) == len(set(admitted))
    assert set(admitted) | set(result.pending) == set(by_id)
    assert not set(admitted) & set(result.pending)

    # The reported usage is the old usage plus what was admitted.
    final = defaultdict(Amounts)
    for key, amounts in usage.items():
        final[key] = amounts
    requested = defaultdict(Amounts)
    borrowed = defaultdict(Amounts)
    for a in result.admitted:
        w = by_id[a.workload_id]
        for flavor, req in w.requests.items():
            final[(w.project, flavor)] += req
            requested[(w.project, flavor)] += req
        for flavor, amount in a.borrowed.items():
            assert flavor in w.requests
            borrowed[(w.project, flavor)] += amount
    for q in quotas:
        assert result.usage[(q.project, q.flavor)] == final[(q.project, q.flavor)]

    oracle = Oracle(quotas, dict(final))
    for q in quotas:
        key = (q.project, q.flavor)
        used, nominal, before = (
            final[key].as_tuple(),
            q.nominal.as_tuple(),
            usage.get(key, Amounts()).as_tuple(),
        )
        # Never above nominal + borrowing limit; never above nominal without a cohort.
        assert oracle.within_bounds(key, final[key]), (key, final[key])
        # What it borrowed is exactly what lies above its nominal quota.
        for i in range(3):
            assert borrowed[key].as_tuple()[i] == max(used[i] - nominal[i], 0) - max(
                before[i] - nominal[i], 0
            )
            if before[i] <= nominal[i]:
                assert requested[key].as_tuple()[i] - borrowed[key].as_tuple()[i] <= nominal[i] - before[i]
    cohorts = {(q.cohort, q.flavor) for q in quotas if q.cohort is not None}
    for cohort, flavor in cohorts:
        members = oracle.members[(cohort, flavor)]
        for i in range(3):
            # The cohort never uses more than its members' nominal quotas together ...
            assert sum(final[(m.project, flavor)].as_tuple()[i] for m in members) <= sum(
                m.nominal.as_tuple()[i] for m in members
            )
        # ... and no member lends more than its lending limit.
        assert oracle.pool_ok(cohort, flavor, {})

    # Positions run 1..n per project in (priority, age) order.
    per_project = defaultdict(list)
    for w in sorted(queued, key=lambda w: (-w.priority, w.created)):
        if w.id in result.pending:
            per_project[w.project].append(w.id)
    for ids in per_project.values():
        assert [result.pending[i].position for i in ids] == list(range(1, len(ids) + 1))

    for wid, pending in result.pending.items():
        w = by_id[wid]
        assert pending.reason
        assert "\n" not in pending.reason
        assert pending.never == oracle.never(w), (w, pending)
        if pending.never or "no quota" in pending.reason:
            continue
        if strategies.get(w.project) == "StrictFIFO" and pending.reason.startswith("waiting behind"):
            continue
        # Nothing that was left waiting would have fitted.
        assert not oracle.fits(w), (w, pending)
        assert pending.reason.startswith("waiting for ")

    # StrictFIFO: what was admitted is a prefix of the project's queue (ignoring the hopeless ones).
    order = defaultdict(list)
    for w in sorted(queued, key=lambda w: (-w.priority, w.created)):
        p = result.pending.get(w.id)
        if p is not None and (p.never or "no quota" in p.reason):
            continue
        order[w.project].append(w.id in result.pending)
    for project, flags in order.items():
        if strategies.get(project) == "StrictFIFO":
            assert flags == sorted(flags), project


def random_world(rng: random.Random, n_workloads: int, n_projects: int, n_cohorts: int):
    flavors = [A100, H100, T4][: rng.randint(1, 3)]
    projects = [f"p{i}" for i in range(n_projects)]
    cohorts = [f"c{i}" for i in range(n_cohorts)]

    def maybe(value):
        return None if rng.random() < 0.5 else value

    quotas = []
    for p in projects:
        for f in flavors:
            if rng.random() < 0.15:
                continue  # no quota row for this flavor
            nominal = Amounts(rng.randint(0, 16), rng.randint(0, 128), rng.randint(0, 512))
            cohort = rng.choice([*cohorts, None]) if cohorts else None
            if cohort is None:
                quotas.append(Quota(p, f, nominal))
                continue
            borrow = Limits(maybe(rng.randint(0, 8)), maybe(rng.randint(0, 64)), maybe(rng.randint(0, 256)))
            lend = Limits(maybe(rng.randint(0, 16)), maybe(rng.randint(0, 128)), maybe(rng.randint(0, 512)))
            quotas.append(Quota(p, f, nominal, cohort, borrow, lend))

    def workload(i: int) -> Workload:
        replicas = rng.choice([1, 1, 1, 2, 4, 8])
        requests = {}
        for f in rng.sample(flavors, rng.randint(1, len(flavors))):
            per = rng.choice([0, 1, 1, 2, 4])
            requests[f] = Amounts(per * replicas, rng.randint(0, 8) * replicas, rng.randint(0, 32) * replicas)
        return Workload(
            id=f"w{i}",
            project=rng.choice(projects),
            priority=rng.choice([0, 0, 0, 100, 1000]),
            created=rng.random() * 1000,
            requests=requests,
        )

    strategies = {p: rng.choice(["StrictFIFO", "BestEffortFIFO"]) for p in projects}
    return quotas, [workload(i) for i in range(n_workloads)], strategies


@pytest.mark.parametrize("seed", range(60))
def test_never_exceeds_quota_whatever_the_queue(seed):
    # Given random quotas, cohorts, limits and strategies, and a queue of random gangs
    rng = random.Random(seed)
    quotas, queued, strategies = random_world(rng, rng.randint(0, 60), rng.randint(1, 6), rng.randint(0, 2))

    # When a first pass admits from an empty cluster
    first = admit(queued[: len(queued) // 2], quotas, {}, strategies)

    # Then every quota rule holds
    check_invariants(queued[: len(queued) // 2], quotas, {}, strategies, first)

    # And a second pass, on top of the first pass's usage, keeps them too
    usage = first.usage
    rest = queued[len(queued) // 2 :]
    second = admit(rest, quotas, usage, strategies)
    check_invariants(rest, quotas, usage, strategies, second)


def test_at_scale_10000_workloads_over_30_projects_and_5_cohorts():
    # Given 10,000 queued gangs over 30 projects in 5 cohorts (measured in benchmarks, not here)
    rng = random.Random(2026)
    quotas, queued, strategies = random_world(rng, 10_000, 30, 5)
    usage = {}
    for q in quotas[::3]:
        usage[(q.project, q.flavor)] = Amounts(
            q.nominal.gpus // 2, q.nominal.cpu / 2, q.nominal.memory_gib / 2
        )

    # When admission runs
    result = admit(queued, quotas, usage, strategies)

    # Then some are admitted, the rest wait with a reason, and every quota rule holds
    assert result.admitted
    assert len(result.admitted) + len(result.pending) == 10_000
    check_invariants(queued, quotas, usage, strategies, result)
