from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from mlplatform.core.errors import ApplicationError
from mlplatform.core.selectors import user_by_username
from mlplatform.core.services import api_token_create


class Command(BaseCommand):
    help = "Issue a personal API token for USERNAME and print only the token."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a name to tell it apart (default: cli-<time>)")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, username, name, expires_in_days, **options):
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be positive.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            _, raw = api_token_create(
                user=user_by_username(username),
                name=name or f"cli-{timezone.now():%Y%m%d-%H%M%S}",
                expires_at=expires_at,
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from exc
        self.stdout.write(raw)
