"""Faults the test server injects, reproducibly: errors, answers after the client gave up, conflicts."""

from __future__ import annotations

import collections
import random
import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What goes wrong, drawn per request from a seeded random source (so a run repeats).

    `error_rate` of requests are answered `error_status` without being served; `timeout_rate` are
    served but answered only after `delay_seconds` (past the client's timeout: the client cannot
    tell whether its create happened); the next `conflicts` requests with a verb in
    `conflict_verbs` are answered 409 Conflict. `verbs` limits errors and delays to those verbs.
    """

    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    delay_seconds: float = 1.0
    conflicts: int = 0
    conflict_verbs: frozenset[str] = frozenset({"update", "patch"})
    verbs: frozenset[str] | None = None
    seed: int = 0
    injected: collections.Counter = field(default_factory=collections.Counter)  # what it did, by kind
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self):
        self._random = random.Random(self.seed)

    def set(self, **values) -> Faults:
        """Change settings in one go; a `seed` restarts the random source."""
        with self._lock:
            for name, value in values.items():
                setattr(self, name, value)
            self._random = random.Random(self.seed)
        return self

    def draw(self, verb: str) -> str | None:
        """'conflict', 'error', 'delay' or None for one request."""
        with self._lock:
            fault = self._draw(verb)
            if fault:
                self.injected[fault] += 1
            return fault

    def _draw(self, verb: str) -> str | None:
        if self.conflicts > 0 and verb in self.conflict_verbs:
            self.conflicts -= 1
            return "conflict"
        if self.verbs is not None and verb not in self.verbs:
            return None
        roll = self._random.random() if self.error_rate or self.timeout_rate else 1.0
        if roll < self.error_rate:
            return "error"
        if roll < self.error_rate + self.timeout_rate:
            return "delay"
        return None
