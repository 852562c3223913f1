"""What the test server does to objects' dicts: label selectors, merge patches, timestamps."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import UTC, datetime

from tests.kube.resources import ApiError

_SET_TERM = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_KEY = re.compile(r"^[\w./-]+$")


def label_selector(text: str | None) -> Callable[[dict], bool]:
    """A predicate on a labels dict for a Kubernetes label selector string. Raises ApiError (400)."""
    requirements = [
        _requirement(term.strip()) for term in re.split(r",(?![^(]*\))", text or "") if term.strip()
    ]
    return lambda labels: all(requirement(labels or {}) for requirement in requirements)


def _requirement(term: str) -> Callable[[dict], bool]:
    if match := _SET_TERM.match(term):
        key, values = match[1], {value.strip() for value in match[3].split(",")}
        if match[2] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if "!=" in term:
        key, value = (part.strip() for part in term.split("!=", 1))
        return lambda labels: labels.get(key) != value
    if "=" in term:
        key, value = (part.strip() for part in re.split(r"==?", term, maxsplit=1))
        return lambda labels: labels.get(key) == value
    if term.startswith("!") and _KEY.match(term[1:].strip()):
        return lambda labels: term[1:].strip() not in labels
    if _KEY.match(term):
        return lambda labels: term in labels
    raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: dicts merge, None removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def labels_of(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}
