"""The Celery application: JSON only, global time limits, the periodic schedule in code."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")

app = Celery("mlplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_every = float(os.environ.get("COMPUTE_SYNC_SECONDS", "5"))

app.conf.beat_schedule = {
    # Admission runs after every submission and finish too; the periodic pass applies quota
    # changes made in admin and fails workloads that waited too long.
    "admit-workloads": {"task": "mlplatform.compute.tasks.admit_workloads", "schedule": _every * 3},
    "sync-workloads": {"task": "mlplatform.compute.tasks.sync_workloads", "schedule": _every},
    "advance-studies": {"task": "training_app.tasks.advance_studies", "schedule": _every},
    "sync-model-versions": {"task": "prediction_app.tasks.sync_versions", "schedule": _every},
    "collect-garbage": {"task": "mlplatform.compute.tasks.collect_garbage", "schedule": 300.0},
    "cull-idle-notebooks": {"task": "notebooks_app.tasks.cull_idle_notebooks", "schedule": 60.0},
    "sample-project-usage": {"task": "mlplatform.compute.tasks.sample_usage", "schedule": 60.0},
    "purge-finished-operations": {
        "task": "mlplatform.gcp.tasks.operations_purge",
        "schedule": crontab(minute=17),
    },
    "purge-dead-api-tokens": {
        "task": "mlplatform.core.tasks.api_tokens_purge",
        "schedule": crontab(hour=3, minute=41),
    },
}
