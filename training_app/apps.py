from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training_app"
    label = "training"
    verbose_name = "Training (AI Platform jobs)"
