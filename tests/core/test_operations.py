"""/healthz and /metrics, and Celery tasks run by a real worker over the real broker."""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client
from django.utils import timezone

from mlplatform.celery import app
from mlplatform.core import broker
from mlplatform.core.metrics import TASKS_KEY
from mlplatform.core.models import ApiToken
from mlplatform.core.tasks import api_tokens_purge


def test_healthz_reports_database_and_broker(db):
    response = Client().get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


def test_healthz_is_503_when_the_broker_is_down(db, settings, tmp_path):
    settings.REDIS_URL = f"unix://{tmp_path}/nothing-listens-here.sock"
    broker.redis_client.cache_clear()
    try:
        response = Client().get("/healthz")
    finally:
        broker.redis_client.cache_clear()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert "nothing-listens-here" in body["checks"]["broker"]["error"]


def test_metrics_count_requests(db):
    client = Client()
    client.get("/healthz")

    metrics = client.get("/metrics").content.decode()

    assert "django_http_requests_total_by_method_total" in metrics
    assert "django_http_requests_latency_seconds_by_view_method" in metrics


def test_celery_is_json_only_with_time_limits_and_a_beat_schedule():
    conf = app.conf

    assert (conf.task_serializer, conf.accept_content) == ("json", ["json"])
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.worker_hijack_root_logger is False
    app.loader.import_default_modules()  # as a worker does: autodiscovers every app's tasks
    scheduled = {entry["task"] for entry in conf.beat_schedule.values()}
    assert scheduled <= set(app.tasks)  # every scheduled task exists
    assert "mlplatform.gcp.tasks.operations_purge" in scheduled


def _wait_for(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_tasks_from_the_broker_and_metrics_count_them(admin_user):
    # given a token revoked long ago, and the task counters as they are now
    old = ApiToken.objects.create(user=admin_user, name="old", prefix="mlp_x", digest="d" * 64)
    ApiToken.objects.filter(pk=old.pk).update(revoked_at=timezone.now() - timedelta(days=200))
    redis = broker.redis_client()
    counter = "mlplatform.core.tasks.api_tokens_purge|succeeded"
    before = int(redis.hget(TASKS_KEY, counter) or 0)

    # when a real worker consumes the task from Redis
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        api_tokens_purge.delay()
        done = _wait_for(lambda: int(redis.hget(TASKS_KEY, counter) or 0) > before)

    # then the token is gone and /metrics counts the task
    assert done, "the worker did not run the task"
    assert not ApiToken.objects.filter(pk=old.pk).exists()
    metrics = Client().get("/metrics").content.decode()
    assert f'mlplatform_celery_tasks_total{{outcome="succeeded",task="{counter.split("|")[0]}"}}' in metrics


def test_log_format_json_writes_one_json_object_per_line(tmp_path):
    script = (
        "import logging, django; django.setup(); "
        "logging.getLogger('mlplatform.demo').warning('quota %s', 'full')"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DATA_DIR": str(tmp_path)}

    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    record = json.loads(done.stderr.strip().splitlines()[-1])
    assert (record["level"], record["logger"], record["message"]) == (
        "WARNING",
        "mlplatform.demo",
        "quota full",
    )
    assert "time" in record
