from celery import shared_task

from mlplatform.core.services import api_tokens_purge as purge


@shared_task(name="mlplatform.core.tasks.api_tokens_purge")
def api_tokens_purge() -> int:
    return purge()
