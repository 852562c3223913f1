from django.db import migrations

from training_app.runtimes import seed_runtimes


def seed(apps, schema_editor):
    seed_runtimes(apps.get_model("training", "RuntimeVersion"))


class Migration(migrations.Migration):
    dependencies = [("training", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
