from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training_app"
    label = "training"
    verbose_name = "Training (AI Platform jobs)"

    def ready(self) -> None:
        # Models load only once Django's apps are ready: register the kind now, not at import.
        from training_app.apis import training_output
        from training_app.jobs import JobKind, register_job_kind
        from training_app.services import training_plan
        from training_app.studies import study_advance

        register_job_kind(
            JobKind(
                input_field="trainingInput",
                output_field="trainingOutput",
                plan=training_plan,
                output=training_output,
                page="training-job",
                title="Training",
                advance=study_advance,
            )
        )
