"""Every request the test server received, counted per verb and path."""

from __future__ import annotations

import collections
import threading


class RequestLog:
    """Every request the server received, per (verb, path); verbs as in Kubernetes RBAC:
    get, list, watch, create, update, patch, delete, deletecollection, and "proxy" for any
    request to a service's proxy subresource."""

    def __init__(self):
        self._counts: collections.Counter = collections.Counter()
        self._last_query: dict[str, dict] = {}
        self._lock = threading.Lock()

    def record(self, verb: str, path: str, query: dict) -> None:
        with self._lock:
            self._counts[(verb, path)] += 1
            self._last_query[verb] = query

    def last_query(self, verb: str) -> dict | None:
        """The query parameters of the latest request with this verb."""
        with self._lock:
            return self._last_query.get(verb)

    def count(self, verb: str | None = None, path: str | None = None) -> int:
        """Requests with this verb (any when None) whose path starts with `path` (any when None)."""
        with self._lock:
            return sum(
                n
                for (v, p), n in self._counts.items()
                if (verb is None or v == verb) and (path is None or p.startswith(path))
            )

    def by_verb(self) -> dict[str, int]:
        with self._lock:
            totals: collections.Counter = collections.Counter()
            for (verb, _), n in self._counts.items():
                totals[verb] += n
            return dict(totals)

    @property
    def total(self) -> int:
        return self.count()

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._last_query.clear()
