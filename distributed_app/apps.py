from django.apps import AppConfig


class DistributedConfig(AppConfig):
    name = "distributed_app"
    label = "distributed"
    verbose_name = "Distributed (MPI jobs)"
