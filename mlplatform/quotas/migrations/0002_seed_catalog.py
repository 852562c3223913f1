"""Seed the GPU catalog: flavors, Google accelerator names, and AI Platform machine types.

Admins edit all of it in Django admin afterwards; this only gives a fresh install a catalog
that accepts what AI Platform and Workbench scripts send.
"""

from django.db import migrations

from mlplatform.quotas.catalog import seed_catalog


def seed(apps, schema_editor):
    seed_catalog(
        apps.get_model("quotas", "Flavor"),
        apps.get_model("quotas", "AcceleratorType"),
        apps.get_model("quotas", "MachineType"),
    )


def unseed(apps, schema_editor):
    apps.get_model("quotas", "MachineType").objects.all().delete()
    apps.get_model("quotas", "AcceleratorType").objects.all().delete()
    apps.get_model("quotas", "Flavor").objects.filter(quotas__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("quotas", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
