from django.apps import AppConfig


class NotebooksConfig(AppConfig):
    name = "notebooks_app"
    label = "notebooks"
    verbose_name = "Notebooks (GPUaaS)"
