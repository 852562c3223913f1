from django.db import migrations, models


class Migration(migrations.Migration):
    """Jobs of every kind: the input keeps its rows under a kind-free name, and says its kind."""

    dependencies = [("training", "0002_runtime_versions")]

    operations = [
        migrations.RenameField(model_name="job", old_name="training_input", new_name="input"),
        migrations.AlterField(
            model_name="job",
            name="input",
            field=models.JSONField(default=dict, help_text="That field, as the job was created with it."),
        ),
        migrations.AddField(
            model_name="job",
            name="kind",
            field=models.CharField(
                default="trainingInput",
                help_text="The Job field of its input (trainingInput, ...).",
                max_length=32,
            ),
        ),
    ]
