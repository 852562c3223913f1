from django.apps import AppConfig


class QuotasConfig(AppConfig):
    name = "mlplatform.quotas"
    label = "quotas"
    verbose_name = "GPU catalog and quotas"
