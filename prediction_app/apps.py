from django.apps import AppConfig


class PredictionConfig(AppConfig):
    name = "prediction_app"
    label = "prediction"
    verbose_name = "Prediction (models and versions)"

    def ready(self) -> None:
        # Models load only once Django's apps are ready: register the operation kinds now.
        from mlplatform.gcp.operation_kinds import OperationKind, register_operation_kind
        from prediction_app.services import operation_cancel, operation_refresh

        for operation_type in ("CREATE_VERSION", "UPDATE_VERSION", "DELETE_VERSION"):
            register_operation_kind(
                operation_type, OperationKind(refresh=operation_refresh, cancel=operation_cancel)
            )
