"""Idle culling: stop notebooks whose Jupyter has seen no kernel or terminal activity for as long as
their project's IdlePolicy allows, and warn on the notebook's page shortly before.

Each pass asks every running notebook's Jupyter (the way the proxy reaches it, with its secret) for
its latest activity, records it (NotebookActivity: the page's warning and the admin report read
it), and stops those past the limit. A notebook that does not answer is skipped, never stopped.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from django.db.models import QuerySet
from django.utils import timezone

from mlplatform.compute.backends.base import BackendError
from mlplatform.compute.models import Workload
from mlplatform.core.errors import ApplicationError
from notebooks_app.models import IdlePolicy, Notebook, NotebookActivity

logger = logging.getLogger(__name__)

TIMEOUT = (2, 5)  # seconds to connect and to read: one slow notebook must not hold up the pass
NOT_TRACKED = {"no_track_activity": "1"}  # the pass's own requests are not a user's activity


@dataclass(frozen=True)
class Decision:
    stop: bool
    warn: bool
    idle_minutes: int
    stops_in_minutes: int | None  # None: the policy never stops it


def decide(now: datetime, last_activity: datetime, policy: IdlePolicy | None) -> Decision:
    """What to do about a notebook last active at `last_activity`: stop it once idle for the
    policy's limit, warn within `warn_minutes_before` of it; nothing without an enabled limit."""
    idle_seconds = max((now - last_activity).total_seconds(), 0)
    idle_minutes = int(idle_seconds // 60)
    if policy is None or not policy.enabled or not policy.stop_after_minutes:
        return Decision(stop=False, warn=False, idle_minutes=idle_minutes, stops_in_minutes=None)
    left_seconds = policy.stop_after_minutes * 60 - idle_seconds
    stops_in_minutes = max(math.ceil(left_seconds / 60), 0)
    return Decision(
        stop=left_seconds <= 0,
        warn=0 < left_seconds <= policy.warn_minutes_before * 60,
        idle_minutes=idle_minutes,
        stops_in_minutes=stops_in_minutes,
    )


# --- the pass ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CullResult:
    checked: int
    unreachable: int
    stopped: list[str]


def cull_pass(now: datetime | None = None) -> CullResult:
    """Check every running notebook of a project with an enabled limit; stop those idle past it."""
    now = now or timezone.now()
    checked, unreachable, stopped = 0, 0, []
    for notebook in _running().filter(
        project__idle_policy__enabled=True, project__idle_policy__stop_after_minutes__isnull=False
    ):
        last_activity = jupyter_last_activity(notebook, now=now)
        if last_activity is None:
            unreachable += 1
            continue
        checked += 1
        NotebookActivity.objects.update_or_create(
            notebook=notebook, defaults={"last_activity": last_activity, "checked_at": now}
        )
        policy = notebook.project.idle_policy
        if decide(now, last_activity, policy).stop and _stop(notebook, policy.stop_after_minutes):
            stopped.append(str(notebook))
    return CullResult(checked=checked, unreachable=unreachable, stopped=stopped)


def jupyter_last_activity(notebook: Notebook, *, now: datetime) -> datetime | None:
    """The latest of Jupyter's own activity, its kernels' and its terminals' (a busy kernel is
    active `now`); None when Jupyter cannot be asked."""
    from notebooks_app.selectors import jupyter_headers, notebook_upstream

    try:
        upstream = notebook_upstream(notebook)
        if upstream is None:
            return None
        api = f"{upstream.url}{notebook.proxy_path}api/"
        with requests.Session() as http:
            http.headers.update(jupyter_headers(upstream, notebook.secret))
            verify, ca_file, cert_file, key_file = upstream.tls
            http.verify = ca_file or verify
            http.cert = (cert_file, key_file) if cert_file else None
            status = http.get(f"{api}status", timeout=TIMEOUT)
            status.raise_for_status()
            kernels = http.get(f"{api}kernels", params=NOT_TRACKED, timeout=TIMEOUT)
            kernels.raise_for_status()
            terminals = http.get(f"{api}terminals", params=NOT_TRACKED, timeout=TIMEOUT)
            times = [_parsed(status.json()["last_activity"])]
            for kernel in kernels.json():
                times.append(
                    now if kernel.get("execution_state") == "busy" else _parsed(kernel["last_activity"])
                )
            if terminals.ok:  # 404 where terminals are turned off
                times += [_parsed(terminal["last_activity"]) for terminal in terminals.json()]
    except (BackendError, requests.RequestException, ValueError, KeyError, TypeError) as exc:
        logger.info("idle culling: %s does not answer (%s); skipped", notebook, exc)
        return None
    return max(times)


def _running() -> QuerySet[Notebook]:
    return Notebook.objects.select_related("project__idle_policy", "workload", "owner").filter(
        workload__state=Workload.State.RUNNING, desired_state=Notebook.Desired.RUNNING
    )


def _parsed(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _stop(notebook: Notebook, minutes: int) -> bool:
    from notebooks_app.services import notebook_stop

    try:
        reason = f"idle for {minutes} minutes without kernel or terminal activity"
        notebook_stop(notebook=notebook, actor=None, reason=reason)
    except ApplicationError as exc:  # stopped or deleted meanwhile
        logger.info("idle culling: %s not stopped: %s", notebook, exc)
        return False
    logger.info("idle culling: stopped %s after %s idle minutes", notebook, minutes)
    return True


# --- reads: the page's warning and the admin report ---------------------------------------------------


@dataclass(frozen=True)
class IdleState:
    idle_minutes: int
    warn: bool
    stops_in_minutes: int | None


def idle_state(notebook: Notebook, *, now: datetime | None = None) -> IdleState | None:
    """How long the running notebook has been idle and when it stops, from what the last pass
    recorded; None without an enabled limit or without a record of its current run."""
    policy = IdlePolicy.objects.filter(project_id=notebook.project_id).first()
    if policy is None or not policy.enabled or not policy.stop_after_minutes:
        return None
    last_activity = _recorded_activity(notebook)
    if last_activity is None:
        return None
    decision = decide(now or timezone.now(), last_activity, policy)
    return IdleState(
        idle_minutes=decision.idle_minutes, warn=decision.warn, stops_in_minutes=decision.stops_in_minutes
    )


@dataclass(frozen=True)
class IdleGpuNotebook:
    notebook: Notebook
    gpus: int
    idle_minutes: int | None  # None: not checked yet during this run


def idle_gpu_notebooks(*, now: datetime | None = None) -> list[IdleGpuNotebook]:
    """Running notebooks that hold GPUs, the longest idle first (unchecked ones last)."""
    now = now or timezone.now()
    rows = []
    for notebook in _running().filter(gpus__gt=0).select_related("activity", "flavor"):
        last_activity = _recorded_activity(notebook)
        idle = None if last_activity is None else decide(now, last_activity, None).idle_minutes
        rows.append(IdleGpuNotebook(notebook=notebook, gpus=notebook.gpus, idle_minutes=idle))
    return sorted(rows, key=lambda row: -1 if row.idle_minutes is None else row.idle_minutes, reverse=True)


def _recorded_activity(notebook: Notebook) -> datetime | None:
    """The recorded last activity, if recorded while the notebook runs its current start."""
    workload = notebook.workload
    if workload is None or workload.state != Workload.State.RUNNING:
        return None
    activity = getattr(notebook, "activity", None)  # a reverse one-to-one: missing raises AttributeError
    if activity is None:
        return None
    started = workload.started_at or workload.created_at
    return activity.last_activity if activity.checked_at >= started - timedelta(seconds=1) else None
