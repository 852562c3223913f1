"""Where a caller's request goes, looked up once per key and trusted for a few seconds.

Both front doors (the notebooks' proxy, the prediction gateway) ask the database who the caller is,
whether they may reach the workload and where it answers, then trust that answer for `ttl` seconds.
Under load an expiring entry must not send every waiting request to the database at once (32
callers, 32 look-ups in a row on one thread, each request behind them waiting): one look-up runs
per key and the callers that come meanwhile wait for its answer. A key in use is renewed in the
background in the last `ahead` seconds of its life, so a busy route never waits on a look-up at all
and no answer is trusted longer than `ttl`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

V = TypeVar("V")


class RouteCache(Generic[V]):
    def __init__(self, *, ttl: float, size: int = 10_000, ahead: float = 1.0) -> None:
        """At most `size` entries (all dropped when full: a burst of strangers' tokens must not grow
        it without bound)."""
        self.ttl, self.size, self.ahead = ttl, size, min(ahead, ttl / 2)
        self._entries: dict[Hashable, tuple[float, V]] = {}  # key -> (trusted until, value)
        self._pending: dict[Hashable, asyncio.Future] = {}
        self._generation = 0  # forget() moves it on: a look-up begun before it stores nothing

    async def get(
        self,
        key: Hashable,
        look_up: Callable[[], Awaitable[V]],
        *,
        keep: Callable[[V], bool] = lambda value: True,
        renew: bool = True,
    ) -> V:
        """The value for `key`: cached, or from `look_up()` (one at a time per key). Values that
        `keep` refuses are answered, not cached. `renew=False` for an event loop that ends with the
        call (a WSGI request's): no look-up is left running in the background."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            if renew and entry[0] - now < self.ahead and self._running(key) is None:
                self._start(key, look_up, keep)
            return entry[1]
        pending = self._running(key) or self._start(key, look_up, keep)
        return await asyncio.shield(pending)

    def forget(self, where: Callable[[Hashable], bool] | None = None) -> None:
        """Drop the entries whose key `where` accepts (all of them without it)."""
        self._generation += 1
        if where is None:
            self._entries.clear()
            self._pending.clear()
            return
        for key in [key for key in self._entries if where(key)]:
            del self._entries[key]
        for key in [key for key in self._pending if where(key)]:
            del self._pending[key]

    def __len__(self) -> int:
        return len(self._entries)

    def _running(self, key: Hashable) -> asyncio.Future | None:
        """The look-up under way for `key` in this event loop (a test's or a WSGI request's loop may
        have ended with one still registered)."""
        pending = self._pending.get(key)
        if pending is None or pending.done() or pending.get_loop() is not asyncio.get_running_loop():
            return None
        return pending

    def _start(self, key: Hashable, look_up, keep) -> asyncio.Future:
        generation = self._generation

        async def fill() -> V:
            try:
                value = await look_up()
                if keep(value) and generation == self._generation:
                    if len(self._entries) >= self.size:
                        self._entries.clear()
                    self._entries[key] = (time.monotonic() + self.ttl, value)
                return value
            finally:
                if self._pending.get(key) is task:
                    del self._pending[key]

        task = asyncio.ensure_future(fill())
        task.add_done_callback(_retrieved)
        self._pending[key] = task
        return task


def _retrieved(task: asyncio.Future) -> None:
    """A renewal nobody waited for may fail (the database went away): say so, once, in the log."""
    if not task.cancelled() and task.exception() is not None:
        logger.warning("a route look-up failed: %r", task.exception())
