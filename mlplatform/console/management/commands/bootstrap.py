"""First-run setup of the embedded default: an admin user and a `demo` project with room to try everything."""

import os
import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from mlplatform.core.models import Membership, Project, Role
from mlplatform.core.services import project_create
from mlplatform.quotas.inventory import detect_gpus
from mlplatform.quotas.models import Flavor, ProjectQuota
from mlplatform.storage.models import StorageConnection
from mlplatform.storage.services import storage_connection_create

DEMO_CPU = Decimal(64)
DEMO_MEMORY_GIB = Decimal(256)


class Command(BaseCommand):
    help = "Create the admin user and the demo project (safe to run again)."

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        with transaction.atomic():
            login = self._admin(username)
            project = self._demo_project(username)
            cpu, gpus = self._demo_quota(project)
            self._demo_bucket(project)
        self.stdout.write(f"login: {login}")
        self.stdout.write(
            f"demo quota: {cpu.nominal_cpu.normalize():f} vCPUs, {cpu.nominal_memory_gib.normalize():f} GiB, "
            f"GPUs: {gpus or 'none found'}"
        )

    def _admin(self, username: str) -> str:
        """Create the superuser; returns how to log in. A password from the environment is set on
        every run (it was asked for); a generated one (kept in DATA_DIR) only when the user is
        created, so a password the admin changed since stays."""
        password_file = settings.DATA_DIR / "admin-password"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        asked = bool(password)
        if not asked:
            if not password_file.exists():
                password_file.write_text(secrets.token_urlsafe(12))
                password_file.chmod(0o600)
            password = password_file.read_text().strip()
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created or (asked and not user.check_password(password)):
            user.set_password(password)
            user.save()
        if user.check_password(password):
            return f"{username} / {password}"
        return f"{username} (with the password set since; {password_file} holds the first one)"

    def _demo_project(self, username: str) -> Project:
        user = get_user_model().objects.get(username=username)
        project = Project.objects.filter(slug="demo").first()
        if project is None:
            project = project_create(slug="demo", owner=user, display_name="Demo")
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ADMIN})
        return project

    def _demo_bucket(self, project: Project) -> None:
        """A local bucket named `demo`, so that gs://demo/... URIs work offline right away."""
        if not StorageConnection.objects.filter(project=project, name="local").exists():
            storage_connection_create(
                project=project, name="local", kind="local", buckets=["demo"], make_default=True
            )
        self.stdout.write(f"demo bucket: gs://demo/ in {settings.STORAGE_LOCAL_ROOT / 'demo'}")

    def _demo_quota(self, project: Project) -> tuple[ProjectQuota, dict[str, int]]:
        """The demo's quotas, created where missing: one an admin edited keeps the edit. Returns the
        CPU quota and the GPUs of each flavor the demo has quota for."""
        cpu, _ = ProjectQuota.objects.get_or_create(
            project=project,
            flavor=Flavor.objects.get(name="cpu"),
            defaults={"nominal_cpu": DEMO_CPU, "nominal_memory_gib": DEMO_MEMORY_GIB},
        )
        gpus = {}
        for flavor_name, count in detect_gpus().items():
            flavor, _ = Flavor.objects.get_or_create(
                name=flavor_name, defaults={"display_name": flavor_name, "resource_name": "nvidia.com/gpu"}
            )
            quota, _ = ProjectQuota.objects.get_or_create(
                project=project,
                flavor=flavor,
                defaults={
                    "nominal_gpus": count,
                    "nominal_cpu": flavor.cpu_per_gpu * count,
                    "nominal_memory_gib": flavor.memory_gib_per_gpu * count,
                },
            )
            gpus[flavor_name] = quota.nominal_gpus
        return cpu, gpus
