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
