from django.core.management.base import BaseCommand, CommandError

from mlplatform.core.errors import ApplicationError
from mlplatform.core.selectors import user_by_username
from mlplatform.core.services import project_create


class Command(BaseCommand):
    help = "Create a project with USERNAME as its admin."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="DNS-1123 label: names the namespace and the {project} of API URLs")
        parser.add_argument("--owner", required=True, help="username of the project's first admin")
        parser.add_argument("--display-name", default="")
        parser.add_argument("--description", default="")

    def handle(self, *args, slug, owner, display_name, description, **options):
        try:
            project = project_create(
                slug=slug,
                owner=user_by_username(owner, field="owner"),
                display_name=display_name,
                description=description,
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from exc
        self.stdout.write(f"Created project '{project.slug}' with {owner} as admin.")
