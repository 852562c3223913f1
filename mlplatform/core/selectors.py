"""Reads for projects and memberships, with the access rule every API applies."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, QuerySet

from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import ApiToken, Membership, Project, Role


def projects_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """The projects `user` may see: their memberships, or all of them for a superuser."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def project_role(project: Project, user: AbstractBaseUser) -> Role | None:
    """The user's role in the project; superusers act as admins everywhere."""
    if user.is_superuser:
        return Role.ADMIN
    role = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    return Role(role) if role else None


def project_get_for_user(
    *, slug: str, user: AbstractBaseUser | AnonymousUser, needs: Role = Role.VIEWER
) -> tuple[Project, Role]:
    """The project named `slug` and the user's role in it.

    Raises NOT_FOUND when it does not exist or the user is not a member (so projects
    cannot be probed), and PERMISSION_DENIED when the member's role is below `needs`.
    """
    project = Project.objects.filter(slug=slug).first() if user.is_authenticated else None
    role = project_role(project, user) if project else None
    if role is None:
        raise ApplicationError(f"Project '{slug}' was not found.", code=ErrorCode.NOT_FOUND)
    if not role.allows(needs):
        raise ApplicationError(
            f"This needs the {needs.label.lower()} role in '{slug}'; you are {role.label.lower()}.",
            code=ErrorCode.PERMISSION_DENIED,
        )
    return project, role


def project_get(*, slug: str) -> Project:
    """A project by slug, for platform staff who manage every project (quotas)."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise ApplicationError(f"Project '{slug}' was not found.", code=ErrorCode.NOT_FOUND)
    return project


def project_members(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def api_tokens_for_user(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by(F("revoked_at").asc(nulls_first=True), "-created_at")


def user_by_username(username: str, *, field: str = "username") -> AbstractBaseUser:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ApplicationError(f"No active user named '{username}'.", field=field)
    return user
