"""`updateMask` for patch methods (`google.protobuf.FieldMask` in its JSON form)."""

from __future__ import annotations

from mlplatform.core.errors import ApplicationError


def parse_update_mask(mask: str | None, *, allowed: set[str]) -> list[str]:
    """The field paths of `mask`; each must be one of `allowed`."""
    paths = [path.strip() for path in (mask or "").split(",") if path.strip()]
    if not paths:
        raise ApplicationError(
            f"is required; fields that can be updated: {', '.join(sorted(allowed))}.",
            field="updateMask",
        )
    for path in paths:
        if path not in allowed:
            raise ApplicationError(
                f"'{path}' cannot be updated; fields that can: {', '.join(sorted(allowed))}.",
                field="updateMask",
            )
    return paths
