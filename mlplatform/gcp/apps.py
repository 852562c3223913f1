from django.apps import AppConfig


class GcpConfig(AppConfig):
    name = "mlplatform.gcp"
    label = "gcp"
    verbose_name = "Google-compatible APIs"
