"""What an app does for the `ml v1` operations of its kinds, which `projects.operations` serves.

An operation row is the gcp layer's; the work it follows is an app's (a version's workload). The
app registers, per operation type, how to bring one up to date (finish it where its work got there)
and how to cancel it (stop its work), in its AppConfig.ready(). Operations of a type nobody
registers are answered as stored, and a cancel marks them cancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlplatform.gcp import services
from mlplatform.gcp.models import Operation


@dataclass(frozen=True)
class OperationKind:
    refresh: Callable[[Operation], Operation]  # finishes it where its work is done; returns it
    cancel: Callable[..., Operation]  # (operation, user=) -> it, cancelled where its work stopped


_kinds: dict[str, OperationKind] = {}


def register_operation_kind(operation_type: str, kind: OperationKind) -> None:
    _kinds[operation_type] = kind


def operation_refreshed(operation: Operation) -> Operation:
    """The operation brought up to date by its kind, if one is registered and it is not done."""
    kind = _kinds.get(operation.operation_type)
    return operation if kind is None or operation.done else kind.refresh(operation)


def operation_cancel(*, operation: Operation, user) -> Operation:
    """operations.cancel: its kind stops the work; without a kind it is marked cancelled."""
    kind = _kinds.get(operation.operation_type)
    if kind is None:
        return services.operation_cancel(operation=operation)
    return kind.cancel(operation, user=user)
