from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "mlplatform.storage"
    label = "storage"
    verbose_name = "Object storage"
