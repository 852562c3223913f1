"""Idle culling: stop notebooks whose Jupyter has seen no kernel or terminal activity for as long as
their project's IdlePolicy allows (the page warns shortly before: selectors.idle_state).

Each pass asks every notebook that selectors.notebooks_to_check names for its Jupyter's latest
activity (jupyter_activity), records it (NotebookActivity: the page's warning and the admin report
read it), and stops, as the platform, those the policy (idle.idle_verdict) says to stop. A notebook
that does not answer is skipped, never stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from mlplatform.compute.values import BackendError
from mlplatform.core.errors import ApplicationError
from notebooks_app import jupyter_activity, selectors, services
from notebooks_app.idle import Action, idle_verdict
from notebooks_app.models import Notebook, NotebookActivity

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CullResult:
    checked: int
    unreachable: int
    stopped: list[str]


def cull_pass(now: datetime | None = None) -> CullResult:
    """Check every running notebook of a project whose policy stops notebooks; stop those idle past it."""
    now = now or timezone.now()
    checked, unreachable, stopped = 0, 0, []
    for notebook in selectors.notebooks_to_check():
        last_activity = _last_activity(notebook, now)
        if last_activity is None:
            unreachable += 1
            continue
        checked += 1
        NotebookActivity.objects.update_or_create(
            notebook=notebook, defaults={"last_activity": last_activity, "checked_at": now}
        )
        policy = notebook.project.idle_policy
        verdict = idle_verdict(
            last_activity=last_activity, now=now, stop_after=policy.stop_after, warn_before=policy.warn_before
        )
        if verdict.action is Action.STOP and _stop(notebook, verdict.idle_minutes):
            stopped.append(str(notebook))
    return CullResult(checked=checked, unreachable=unreachable, stopped=stopped)


def _last_activity(notebook: Notebook, now: datetime) -> datetime | None:
    try:
        jupyter = selectors.notebook_jupyter(notebook)
    except BackendError as exc:
        logger.info("idle culling: %s has no address (%s); skipped", notebook, exc)
        return None
    if jupyter is None:
        return None
    last_activity = jupyter_activity.last_activity(jupyter, notebook.proxy_path, now=now)
    if last_activity is None:
        logger.info("idle culling: %s does not answer; skipped", notebook)
    return last_activity


def _stop(notebook: Notebook, idle_minutes: int) -> bool:
    reason = f"idle for {idle_minutes} minutes without kernel or terminal activity"
    try:
        services.notebook_stop(notebook=notebook, actor=None, reason=reason)
    except ApplicationError as exc:  # stopped or deleted meanwhile
        logger.info("idle culling: %s not stopped: %s", notebook, exc)
        return False
    logger.info("idle culling: stopped %s, %s", notebook, reason)
    return True
