"""Prometheus metrics beyond django-prometheus' request counts and latencies.

Celery tasks run in worker processes, so their counts live in Redis (a hash keyed by task
and outcome) and the web process reads them at scrape time.
"""

from __future__ import annotations

import logging

from celery import signals
from prometheus_client.core import REGISTRY, CounterMetricFamily

from mlplatform.core.broker import redis_client

logger = logging.getLogger(__name__)
TASKS_KEY = "mlplatform:metrics:celery_tasks"


def _count(task_name: str, outcome: str) -> None:
    try:
        redis_client().hincrby(TASKS_KEY, f"{task_name}|{outcome}", 1)
    except Exception as exc:  # metrics must never fail a task
        logger.warning("could not record a task metric: %s", exc)


def _on_published(sender=None, **kwargs) -> None:
    _count(sender, "sent")


def _on_success(sender=None, **kwargs) -> None:
    _count(sender.name, "succeeded")


def _on_failure(sender=None, **kwargs) -> None:
    _count(sender.name, "failed")


def _on_retry(sender=None, **kwargs) -> None:
    _count(sender.name, "retried")


def _family() -> CounterMetricFamily:
    return CounterMetricFamily(
        "mlplatform_celery_tasks", "Celery tasks by name and outcome.", labels=["task", "outcome"]
    )


class CeleryTaskCollector:
    def describe(self):
        # Lets the registry learn the metric's name without reading Redis at start-up.
        yield _family()

    def collect(self):
        family = _family()
        try:
            counts = redis_client().hgetall(TASKS_KEY)
        except Exception as exc:
            logger.warning("could not read task metrics: %s", exc)
            counts = {}
        for key, value in sorted(counts.items()):
            task, _, outcome = key.decode().rpartition("|")
            family.add_metric([task, outcome], int(value))
        yield family


_connected = False


def connect_celery_signals() -> None:
    """Count task outcomes (idempotent: apps may be set up twice in tests)."""
    global _connected
    if _connected:
        return
    signals.after_task_publish.connect(_on_published, weak=False)
    signals.task_success.connect(_on_success, weak=False)
    signals.task_failure.connect(_on_failure, weak=False)
    signals.task_retry.connect(_on_retry, weak=False)
    REGISTRY.register(CeleryTaskCollector())
    _connected = True
