from celery import shared_task

from mlplatform.gcp.services import operations_purge as purge


@shared_task(name="mlplatform.gcp.tasks.operations_purge")
def operations_purge() -> int:
    return purge()
