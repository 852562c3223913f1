"""Google Cloud resource labels, as every facade checks them."""

from __future__ import annotations

import re

from mlplatform.core.errors import ApplicationError

# Keys start with a lowercase letter; keys and values are at most 63 lowercase letters, digits,
# underscores and dashes; at most 64 labels.
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}\Z")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}\Z")


def labels_checked(labels) -> dict[str, str]:
    if not isinstance(labels, dict):
        raise ApplicationError("must be an object of string keys and values.", field="labels")
    if len(labels) > 64:
        raise ApplicationError("at most 64 labels.", field="labels")
    for key, value in labels.items():
        if not LABEL_KEY.match(str(key)):
            raise ApplicationError(
                f"'{key}': keys start with a lowercase letter and hold at most 63 lowercase letters, "
                "digits, '_' and '-'.",
                field=f"labels.{key}",
            )
        if not isinstance(value, str) or not LABEL_VALUE.match(value):
            raise ApplicationError(
                f"'{value}': values hold at most 63 lowercase letters, digits, '_' and '-'.",
                field=f"labels.{key}",
            )
    return dict(labels)
