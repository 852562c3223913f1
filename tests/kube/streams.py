"""Watch streams (resumed from a resourceVersion, 410 Gone past the window) and pod logs (tail,
follow), on top of the store."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from tests.kube.objects import label_selector, labels_of
from tests.kube.resources import Target, gone, not_found
from tests.kube.store import ObjectStore

WATCH_LIMIT_SECONDS = 60  # a stream nobody closes ends by itself, so no test waits on a thread
POLL_SECONDS = 0.02  # how often a stream looks for new events, a closed client or a stopped server


class Streams(ObjectStore):
    """The store, watched, with the pods' log text, each line with the time it came (as the kubelet
    notes it, for `timestamps`)."""

    def __init__(self, **store):
        super().__init__(**store)
        self._logs: dict[tuple[str, str], list[tuple[str, str]]] = {}

    def set_logs(self, namespace: str, pod: str, text: str) -> None:
        with self._cond:
            self._logs[(namespace, pod)] = _timed(text)
            self._cond.notify_all()

    def append_logs(self, namespace: str, pod: str, text: str) -> None:
        with self._cond:
            self._logs.setdefault((namespace, pod), []).extend(_timed(text))
            self._cond.notify_all()

    def watch(self, target: Target, query: dict, is_gone: Callable[[], bool]) -> Iterator[dict]:
        """Watch events for a stream: from `resourceVersion` on (or ADDED for everything first),
        until `timeoutSeconds`, the client leaves (`is_gone`) or the server stops."""
        resource, namespace = target.resource, target.namespace
        matches = label_selector(query.get("labelSelector"))
        wanted = query.get("fieldSelector", "")
        name = wanted.removeprefix("metadata.name=") if wanted.startswith("metadata.name=") else ""
        timeout = min(float(query.get("timeoutSeconds") or WATCH_LIMIT_SECONDS), WATCH_LIMIT_SECONDS)
        deadline = time.monotonic() + timeout
        since = query.get("resourceVersion") or "0"
        with self._cond:
            if since == "0":
                cursor = self._rv
                backlog = [
                    {"type": "ADDED", "object": copy.deepcopy(obj)}
                    for obj in self._select(resource, namespace, matches)
                    if not name or obj["metadata"]["name"] == name
                ]
            else:
                cursor, backlog = int(since), []
        yield from backlog
        wanted = (resource.key, namespace, name, matches)
        while not is_gone():
            with self._cond:
                expired = cursor < self._compacted  # the window moved past this watcher: it must list again
                ended = self._closed or time.monotonic() >= deadline
                first = self._events[0][0] if self._events else self._rv + 1
                fresh = [] if expired or ended else self._events[max(0, cursor + 1 - first) :]
                if not (expired or ended or fresh):
                    self._cond.wait(POLL_SECONDS)
                    continue
                events = [_event(kind, obj) for _, kind, key, obj in fresh if _wanted(key, obj, *wanted)]
                cursor = fresh[-1][0] if fresh else cursor
            if expired:
                yield {"type": "ERROR", "object": gone(cursor).status()}
                return
            if ended:
                break
            yield from events
        if query.get("allowWatchBookmarks") in ("true", "1"):
            yield {
                "type": "BOOKMARK",
                "object": {
                    "kind": resource.kind,
                    "apiVersion": resource.api_version,
                    "metadata": {"resourceVersion": str(cursor)},
                },
            }

    def logs(self, target: Target, query: dict, is_gone: Callable[[], bool]) -> tuple[list[str], Iterator]:
        """The pod's log lines so far (the last `tailLines`), and with `follow` what comes after,
        until the pod ends or goes; with `timestamps`, each after its time and a space."""
        namespace, pod = target.namespace, target.name
        with self._cond:
            if (namespace, pod) not in self._objects[("", "pods")]:
                raise not_found(target.resource, pod)
            lines = list(self._logs.get((namespace, pod), []))
        shown = lines[-int(query["tailLines"]) :] if query.get("tailLines") else lines
        timestamps = query.get("timestamps") in ("true", "1")
        text = [f"{at} {line}" if timestamps else line for at, line in shown]
        if query.get("follow") not in ("true", "1"):
            return text, iter(())
        later = self._follow(namespace, pod, len(lines), is_gone)
        return text, (f"{at} {line}" if timestamps else line for at, line in later)

    def _follow(self, namespace: str, pod: str, cursor: int, is_gone) -> Iterator[tuple[str, str]]:
        deadline = time.monotonic() + WATCH_LIMIT_SECONDS
        while not is_gone() and time.monotonic() < deadline:
            with self._cond:
                lines = self._logs.get((namespace, pod), [])
                fresh, cursor = lines[cursor:], len(lines)
                obj = self._objects[("", "pods")].get((namespace, pod))
                ended = (
                    self._closed
                    or obj is None
                    or obj.get("status", {}).get("phase") in ("Succeeded", "Failed")
                )
                if not fresh and not ended:
                    self._cond.wait(POLL_SECONDS)
            yield from fresh
            if ended and not fresh:
                return


def _timed(text: str) -> list[tuple[str, str]]:
    at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")  # RFC 3339
    return [(at, line) for line in text.splitlines()]


def _event(kind: str, obj: dict) -> dict:
    return {"type": kind, "object": copy.deepcopy(obj)}


def _wanted(key, obj, resource_key, namespace: str, name: str, matches) -> bool:
    meta = obj["metadata"]
    return (
        key == resource_key
        and (not namespace or meta.get("namespace") == namespace)
        and (not name or meta["name"] == name)
        and matches(labels_of(obj))
    )
