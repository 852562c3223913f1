"""The proto3 JSON mapping, as Google's API servers read and write it: timestamps as RFC 3339
strings in UTC, int64 as a string or a number, google.protobuf.Duration as "3600s", and no field a
message does not have. The readers raise ApplicationError (INVALID_ARGUMENT) naming the field's
path, e.g. trainingInput.scheduling.maxRunningTime."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from mlplatform.core.errors import ApplicationError

INT64 = re.compile(r"-?[0-9]{1,19}")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# The largest number a PositiveIntegerField holds on every database: int64 fields that land in one.
COLUMN_MAX = 2**31 - 1
DURATION = re.compile(r"(-?[0-9]{1,12})(?:\.([0-9]{1,9}))?s")
DURATION_MAX_SECONDS = 315_576_000_000  # google.protobuf.Duration's range: about ±10,000 years


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 with a Z, as Google's APIs answer (`2026-11-28T13:35:23.123456Z`)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message(value, *, field: str) -> dict:
    """A message field: an object, or {} when unset."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApplicationError("must be an object.", field=field)
    return value


def messages(value, *, field: str) -> tuple[dict, ...]:
    """A repeated message field: a list of objects, or () when unset."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ApplicationError("must be a list of objects.", field=field)
    return tuple(message(item, field=f"{field}[{i}]") or {} for i, item in enumerate(value))


def check_fields(
    value: Mapping,
    known: Iterable[str],
    *,
    type_name: str,
    path: str = "",
    refused: Mapping[str, str] | None = None,
) -> None:
    """Refuses a field that the message `type_name` does not have, and a `refused` one (with its
    reason) unless it is unset or false."""
    known, refused = set(known), refused or {}
    for name in sorted(value):
        field = f"{path}.{name}" if path else name
        if name in refused and value[name] not in (None, False, "", {}, []):
            raise ApplicationError(refused[name], field=field)
        if name not in known and name not in refused:
            raise ApplicationError(f"'{name}' is not a field of {type_name}.", field=field)


def int64(value, *, field: str, minimum: int | None = None, maximum: int = INT64_MAX) -> int:
    """An int64 sent as a JSON number (a whole one) or, as proto3 JSON allows, a decimal string ("2"),
    within int64's range and [minimum, maximum]."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not (whole or (isinstance(value, str) and INT64.fullmatch(value))):
        raise ApplicationError(f"'{value}' is not a whole number.", field=field)
    number, lowest = int(value), INT64_MIN if minimum is None else minimum
    if number < lowest:
        reason = "must not be negative." if lowest == 0 else f"must be at least {lowest}."
        raise ApplicationError(reason, field=field)
    if number > maximum:
        raise ApplicationError(f"must be at most {maximum}.", field=field)
    return number


def duration(value, *, field: str) -> Decimal:
    """The seconds of a google.protobuf.Duration string such as "3600s" or "1.5s"."""
    match = DURATION.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ApplicationError(f'\'{value}\' is not a duration such as "3600s" or "1.5s".', field=field)
    seconds = Decimal(value[:-1])
    if abs(seconds) > DURATION_MAX_SECONDS:
        raise ApplicationError(f"must be at most {DURATION_MAX_SECONDS}s (about 10,000 years).", field=field)
    return seconds


def string(value, *, field: str) -> str:
    """A string field; '' when unset."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApplicationError("must be a string.", field=field)
    return value


def strings(value, *, field: str) -> tuple[str, ...]:
    """A repeated string field; () when unset."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ApplicationError("must be a list of strings.", field=field)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ApplicationError("must be a string.", field=f"{field}[{i}]")
    return tuple(value)


def boolean(value, *, field: str) -> bool:
    """A bool field; False when unset."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApplicationError("must be true or false.", field=field)
    return value
