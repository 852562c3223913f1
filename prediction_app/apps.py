from django.apps import AppConfig


class PredictionConfig(AppConfig):
    name = "prediction_app"
    label = "prediction"
    verbose_name = "Prediction (models and versions)"
