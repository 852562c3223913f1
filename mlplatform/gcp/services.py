"""Writes for long-running operations."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Project
from mlplatform.gcp.models import Operation

CANCELLED = {"code": ErrorCode.CANCELLED.rpc_code, "message": "Operation was cancelled."}


def operation_create(
    *,
    project: Project,
    operation_type: str,
    target: str = "",
    location: str = "",
    metadata: dict | None = None,
) -> Operation:
    return Operation.objects.create(
        project=project,
        operation_type=operation_type,
        target=target,
        location=location,
        metadata=metadata or {},
    )


def operation_finish(
    *, operation_id: str, response: dict | None = None, error: dict | None = None
) -> Operation:
    """Mark an operation done with its response or error; finishing twice changes nothing."""
    with transaction.atomic():
        operation = Operation.objects.select_for_update().get(pk=operation_id)
        if not operation.done:
            operation.done = True
            operation.response = None if error else (response or {})
            operation.error = error
            operation.end_time = timezone.now()
            operation.save()
    return operation


def operation_cancel(*, operation: Operation, stopped: bool = True) -> Operation:
    """Cancel an operation that is still running. When its work was `stopped` it ends with the
    CANCELLED error; else the request is only noted and it ends as it would have (Google's cancel
    is best effort). Fails when it is already done."""
    with transaction.atomic():
        operation = Operation.objects.select_for_update().get(pk=operation.pk)
        if operation.done:
            raise ApplicationError(
                f"Operation {operation.id} is already done.", code=ErrorCode.FAILED_PRECONDITION
            )
        operation.cancel_requested = True
        if stopped:
            operation.done = True
            operation.error = CANCELLED
            operation.end_time = timezone.now()
        operation.save()
    return operation


def operation_delete(*, operation: Operation) -> None:
    """Forget an operation: its caller no longer wants the result. Its work goes on."""
    Operation.objects.filter(pk=operation.pk).delete()


def operations_purge(*, older_than_days: int = 30) -> int:
    """Delete operations that ended more than `older_than_days` ago; returns how many."""
    cutoff = timezone.now() - timezone.timedelta(days=older_than_days)
    deleted, _ = Operation.objects.filter(done=True, end_time__lt=cutoff).delete()
    return deleted
