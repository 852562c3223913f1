"""Workloads that ended before replica states ended with them still list replicas as pending or
running: give those the phase they now get when their workload ends."""

from django.db import migrations

UNENDED = ("pending", "running")


def end_replicas(apps, schema_editor):
    Workload = apps.get_model("compute", "Workload")
    for workload in Workload.objects.filter(state__in=("SUCCEEDED", "FAILED", "CANCELLED")).iterator():
        if not any(replica.get("phase") in UNENDED for replica in workload.replicas or []):
            continue
        phase = "cancelled" if workload.state == "CANCELLED" else "stopped"
        workload.replicas = [
            {**replica, "phase": phase} if replica.get("phase") in UNENDED else replica
            for replica in workload.replicas
        ]
        workload.save(update_fields=["replicas"])


class Migration(migrations.Migration):
    dependencies = [("compute", "0003_workload_event_actor")]

    operations = [migrations.RunPython(end_replicas, migrations.RunPython.noop)]
