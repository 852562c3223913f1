"""The web server's access log without credentials: APIs take tokens only in the Authorization
header and refuse them in a query string, but uvicorn logs each request's path with its query."""

from __future__ import annotations

import logging
import re

from django.conf import settings

REDACTED = "[REDACTED]"
# Query parameters that carry credentials in the clients people use (OAuth, Google's `key`, ...).
_SECRET_PARAMETER = re.compile(r"(?i)((?:^|[?&])(?:access_token|token|api_key|apikey|key|password)=)[^&#]*")


def redact(target: str) -> str:
    """`target` (a path and query) with credential parameters and anything like one of our tokens
    replaced by [REDACTED]."""
    path, question, query = target.partition("?")
    if not question:
        return target
    query = _SECRET_PARAMETER.sub(rf"\1{REDACTED}", query)
    query = re.sub(rf"{re.escape(settings.API_TOKEN_PREFIX)}[A-Za-z0-9_\-%]+", REDACTED, query)
    return f"{path}?{query}"


class RedactCredentials(logging.Filter):
    """Rewrites uvicorn.access records (args: client, method, path and query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact(args[2]), args[3], args[4])
        return True
