"""Idle culling's policy, pure: from when a notebook was last active, how long idle stops it, how
long before that its page warns, and now, whether to keep it, warn, or stop it."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta


class Action(enum.Enum):
    KEEP = "keep"
    WARN = "warn"
    STOP = "stop"


@dataclass(frozen=True)
class Verdict:
    action: Action
    idle_minutes: int
    stops_in_minutes: int | None  # None: no limit stops it

    @property
    def warn(self) -> bool:
        return self.action is Action.WARN


def idle_minutes(*, last_activity: datetime, now: datetime) -> int:
    """Whole minutes since `last_activity`; activity later than `now` counts as none idle."""
    return int(max((now - last_activity).total_seconds(), 0) // 60)


def idle_verdict(
    *, last_activity: datetime, now: datetime, stop_after: timedelta | None, warn_before: timedelta
) -> Verdict:
    """STOP once idle for `stop_after`, WARN within `warn_before` of it, else KEEP; without a limit
    (`stop_after` None) always KEEP."""
    minutes = idle_minutes(last_activity=last_activity, now=now)
    if stop_after is None:
        return Verdict(Action.KEEP, minutes, None)
    left = stop_after - max(now - last_activity, timedelta(0))
    stops_in_minutes = max(math.ceil(left.total_seconds() / 60), 0)
    if left <= timedelta(0):
        action = Action.STOP
    elif left <= warn_before:
        action = Action.WARN
    else:
        action = Action.KEEP
    return Verdict(action, minutes, stops_in_minutes)
