from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mlplatform.core"
    label = "core"
    verbose_name = "Projects and access"

    def ready(self) -> None:
        from mlplatform.core import metrics  # Django's apps are ready only now

        metrics.connect_celery_signals()
