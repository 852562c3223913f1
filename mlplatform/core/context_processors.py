"""What every page's navigation needs: the user's projects and the one in view."""

from __future__ import annotations

from django.http import HttpRequest

from mlplatform.core.selectors import projects_for_user

SESSION_KEY = "current_project"


def navigation(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    projects = list(projects_for_user(request.user))
    match = getattr(request, "resolver_match", None)
    wanted = (match.kwargs.get("project") if match else None) or request.session.get(SESSION_KEY)
    current = next((p for p in projects if p.slug == wanted), projects[0] if projects else None)
    return {"nav_projects": projects, "current_project": current}
