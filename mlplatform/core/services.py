"""Writes for projects, memberships and API tokens. Each raises `ApplicationError` on refusal."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import ApiToken, Membership, Project, Role
from mlplatform.core.selectors import user_by_username
from mlplatform.core.validators import validate_project_slug

# Writing last_used_at on every request would turn every read into a write.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def project_create(
    *, slug: str, owner: AbstractBaseUser, display_name: str = "", description: str = ""
) -> Project:
    """Create a project with `owner` as its admin. Fails on a bad or taken slug."""
    try:
        validate_project_slug(slug)
    except ValidationError as exc:
        raise ApplicationError(exc.messages[0], field="slug") from exc
    if len(display_name) > 200:
        raise ApplicationError("must be at most 200 characters.", field="display_name")
    try:
        with transaction.atomic():
            project = Project.objects.create(slug=slug, display_name=display_name, description=description)
            Membership.objects.create(project=project, user=owner, role=Role.ADMIN)
    except IntegrityError as exc:
        raise ApplicationError(
            f"A project named '{slug}' already exists.", code=ErrorCode.ALREADY_EXISTS, field="slug"
        ) from exc
    return project


def project_update(
    *, project: Project, display_name: str | None = None, description: str | None = None
) -> Project:
    if display_name is not None:
        project.display_name = display_name
    if description is not None:
        project.description = description
    project.save(update_fields=["display_name", "description", "updated_at"])
    return project


def membership_set(*, project: Project, username: str, role: str) -> Membership:
    """Add `username` to the project, or change their role. The last admin cannot step down."""
    if role not in Role.values:
        raise ApplicationError(f"'{role}' is not a role; use one of {', '.join(Role.values)}.", field="role")
    user = user_by_username(username)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
        if membership is None:
            return Membership.objects.create(project=project, user=user, role=role)
        if membership.role == Role.ADMIN and role != Role.ADMIN:
            _ensure_another_admin(project, membership)
        membership.role = role
        membership.save(update_fields=["role"])
        return membership


def membership_remove(*, project: Project, username: str) -> None:
    user = user_by_username(username)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
        if membership is None:
            raise ApplicationError(
                f"'{username}' is not a member of '{project.slug}'.",
                code=ErrorCode.NOT_FOUND,
                field="username",
            )
        if membership.role == Role.ADMIN:
            _ensure_another_admin(project, membership)
        membership.delete()


def _ensure_another_admin(project: Project, membership: Membership) -> None:
    admins = Membership.objects.select_for_update().filter(project=project, role=Role.ADMIN)
    if not admins.exclude(pk=membership.pk).exists():
        raise ApplicationError(
            f"'{membership.user}' is the last admin of '{project.slug}'; make someone else admin first.",
            code=ErrorCode.FAILED_PRECONDITION,
            field="role",
        )


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue a token; returns the row and the token itself, which is never stored."""
    name = name.strip()
    if not name:
        raise ApplicationError("must not be empty.", field="name")
    if len(name) > 100:
        raise ApplicationError("must be at most 100 characters.", field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("must be in the future.", field="expires_at")
    raw = settings.API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name,
                prefix=raw[: len(settings.API_TOKEN_PREFIX) + 6],
                digest=token_digest(raw),
                expires_at=expires_at,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            f"You already have an active token named '{name}'.",
            code=ErrorCode.ALREADY_EXISTS,
            field="name",
        ) from exc
    return token, raw


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token; revoking a revoked token changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, raw: str) -> tuple[AbstractBaseUser, ApiToken]:
    """The user a bearer token belongs to. Fails on unknown, revoked and expired tokens."""
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(raw)).first()
    if token is None or not token.user.is_active:
        raise ApplicationError("Invalid API token.", code=ErrorCode.UNAUTHENTICATED)
    if token.revoked_at is not None:
        raise ApplicationError("This API token has been revoked.", code=ErrorCode.UNAUTHENTICATED)
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise ApplicationError("This API token has expired.", code=ErrorCode.UNAUTHENTICATED)
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token.user, token


def api_tokens_purge(*, older_than: timedelta = timedelta(days=90)) -> int:
    """Delete tokens revoked or expired more than `older_than` ago; returns how many."""
    cutoff = timezone.now() - older_than
    deleted, _ = ApiToken.objects.filter(revoked_at__lt=cutoff).delete()
    expired, _ = ApiToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted + expired
