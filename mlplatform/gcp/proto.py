"""The proto3 JSON mapping: timestamps as RFC 3339 strings in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 with a Z, as Google's APIs answer (`2026-11-28T13:35:23.123456Z`)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
