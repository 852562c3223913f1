from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "mlplatform.console"
    label = "console"
    verbose_name = "Console"
