"""AI Platform Prediction's machine types: mls1-c1-m2 (a version's default) and mls1-c4-m2, and the
small Compute Engine shapes prediction offers (n1-standard-2, n1-highcpu-2/4/8), for installs
seeded before them (a fresh one gets them from 0002)."""

from django.db import migrations, models

from mlplatform.quotas.catalog import add_machine_types

ADDED = ("mls1-c1-m2", "mls1-c4-m2", "n1-standard-2", "n1-highcpu-2", "n1-highcpu-4", "n1-highcpu-8")


def add(apps, schema_editor):
    add_machine_types(apps.get_model("quotas", "Flavor"), apps.get_model("quotas", "MachineType"), ADDED)


class Migration(migrations.Migration):
    dependencies = [("quotas", "0002_seed_catalog")]

    operations = [
        migrations.AlterField(
            model_name="machinetype",
            name="kind",
            field=models.CharField(
                choices=[
                    ("compute_engine", "Compute Engine type"),
                    ("legacy", "Legacy AI Platform type"),
                    ("scale_tier", "Scale tier"),
                    ("prediction", "AI Platform Prediction type (mls1)"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(add, migrations.RunPython.noop),
    ]
