"""The Celery application: JSON only, global time limits, the periodic schedule in code."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")

app = Celery("mlplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "purge-finished-operations": {
        "task": "mlplatform.gcp.tasks.operations_purge",
        "schedule": crontab(minute=17),
    },
    "purge-dead-api-tokens": {
        "task": "mlplatform.core.tasks.api_tokens_purge",
        "schedule": crontab(hour=3, minute=41),
    },
}
