from django.apps import AppConfig


class PredictionConfig(AppConfig):
    name = "prediction_app"
    label = "prediction"
    verbose_name = "Prediction (models and versions)"

    def ready(self) -> None:
        # Models load only once Django's apps are ready: register the operation and job kinds now.
        from mlplatform.gcp.operation_kinds import OperationKind, register_operation_kind
        from prediction_app import batch_services
        from prediction_app.services import operation_cancel, operation_refresh
        from training_app.jobs import JobKind, register_job_kind

        for operation_type in ("CREATE_VERSION", "UPDATE_VERSION", "DELETE_VERSION"):
            register_operation_kind(
                operation_type, OperationKind(refresh=operation_refresh, cancel=operation_cancel)
            )
        register_job_kind(
            JobKind(
                input_field="predictionInput",
                output_field="predictionOutput",
                plan=batch_services.batch_prediction_plan,
                output=batch_services.batch_prediction_output,
                page="training-job",  # the jobs' shared page: state, events, per-worker logs
                title="Batch prediction",
                progress=batch_services.batch_prediction_page_progress,
            )
        )
