"""Seed the notebook image catalog (admins edit it in admin afterwards)."""

from django.db import migrations

from notebooks_app.images import seed_images


def seed(apps, schema_editor):
    seed_images(apps.get_model("notebooks", "NotebookImage"), apps.get_model("quotas", "Flavor"))


class Migration(migrations.Migration):
    dependencies = [("notebooks", "0001_initial"), ("quotas", "0002_seed_catalog")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
