from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "mlplatform.compute"
    label = "compute"
    verbose_name = "Compute: workloads and queues"
