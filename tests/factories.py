"""factory_boy factories for the rows most tests need."""

import factory
from django.contrib.auth import get_user_model

from mlplatform.core.models import Membership, Project, Role
from mlplatform.quotas.models import Flavor, ProjectQuota

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    display_name = factory.LazyAttribute(lambda p: p.slug.replace("-", " ").title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


def quota(project: Project, flavor_name: str, **values) -> ProjectQuota:
    return ProjectQuota.objects.create(project=project, flavor=Flavor.objects.get(name=flavor_name), **values)


def job_row(
    project: Project,
    job_id: str,
    *,
    state: str = "QUEUED",
    labels: dict | None = None,
    kind: str = "trainingInput",
):
    """A job row of `kind` and its workload in `state`, for list and filter tests (jobs that run are
    created through training_app.services.job_create)."""
    from mlplatform.compute.models import Workload
    from training_app.models import Job

    spec = {"name": job_id.lower().replace("_", "-"), "kind": "batch", "groups": []}
    workload = Workload.objects.create(
        project=project, kind="batch", name=spec["name"], spec=spec, state=state
    )
    return Job.objects.create(
        project=project, job_id=job_id, workload=workload, labels=labels or {}, kind=kind
    )


def replica_wrote(workload, text: str, *, state: str = "RUNNING", index: int = 0) -> None:
    """The workload in `state` on the local backend (the local_compute fixture's), its first group's
    replica `index` having written `text` to its output.log, as a running process would."""
    from mlplatform.compute.backends import get_backend
    from mlplatform.compute.backends.local.launcher import OUTPUT_FILE
    from mlplatform.compute.models import Workload

    Workload.objects.filter(pk=workload.pk).update(state=state, backend="local")
    workload.refresh_from_db()
    role = workload.spec["groups"][0]["role"]
    folder = get_backend("local").run_dir(workload.ref) / f"{role}-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OUTPUT_FILE).write_text(text)
