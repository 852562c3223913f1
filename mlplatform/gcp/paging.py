"""`pageSize` / `pageToken` paging for list methods, newest first.

Tokens are signed keysets (the last item's time and key), so they survive inserts between
pages, cannot be forged, and are refused when reused with another filter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.core import signing
from django.db.models import Q, QuerySet

from mlplatform.core.errors import ApplicationError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_SALT = "mlplatform.gcp.page-token"


@dataclass(frozen=True)
class Page:
    items: list
    next_page_token: str


def page_size_from(value: str | int | None, *, default: int = DEFAULT_PAGE_SIZE) -> int:
    """Parse `pageSize` (int32, maybe as a string); 0 or missing means the default."""
    if value in (None, ""):
        return default
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise ApplicationError(f"'{value}' is not an integer.", field="pageSize") from None
    if size < 0:
        raise ApplicationError("must not be negative.", field="pageSize")
    return min(size or default, MAX_PAGE_SIZE)


def paginate(
    queryset: QuerySet,
    *,
    page_size: int,
    page_token: str | None,
    time_field: str = "create_time",
    scope: str = "",
) -> Page:
    """One page of `queryset` ordered newest first by `time_field`, then primary key.

    `scope` is whatever else defines the listing (its filter); a token from another
    scope is refused.
    """
    fingerprint = hashlib.sha256(scope.encode()).hexdigest()[:16]
    queryset = queryset.order_by(f"-{time_field}", "-pk")
    if page_token:
        try:
            data = signing.loads(page_token, salt=_SALT)
            after, last_pk = datetime.fromisoformat(data["t"]), data["k"]
            if data["s"] != fingerprint:
                raise ValueError("token from another listing")
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise ApplicationError(
                "Invalid page token; pass the nextPageToken of the same list call.", field="pageToken"
            ) from None
        queryset = queryset.filter(
            Q(**{f"{time_field}__lt": after}) | Q(**{time_field: after, "pk__lt": last_pk})
        )
    items = list(queryset[: page_size + 1])
    token = ""
    if len(items) > page_size:
        items = items[:page_size]
        last = items[-1]
        token = signing.dumps(
            {"t": getattr(last, time_field).isoformat(), "k": last.pk, "s": fingerprint}, salt=_SALT
        )
    return Page(items=items, next_page_token=token)
