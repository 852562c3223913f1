"""Server-rendered pages of the console shell: sign-in and API tokens, and the project look-up
every page uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from mlplatform.core import selectors, services
from mlplatform.core.context_processors import SESSION_KEY
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import ApiToken, Project, Role

NEW_TOKEN_KEY = "new_api_token"
TOKEN_LIFETIMES = {"": None, "7": 7, "30": 30, "90": 90, "365": 365}


def project_for_view(request: HttpRequest, slug: str, *, needs: Role = Role.VIEWER) -> Project:
    """The project of a page, remembered as the user's current one; 404 for non-members,
    403 for a role below `needs` (ApplicationErrorMiddleware answers both)."""
    project, _ = selectors.project_get_for_user(slug=slug, user=request.user, needs=needs)
    request.session[SESSION_KEY] = project.slug
    return project


def form_errors(
    exc: ApplicationError, input_of: Callable[[str | None], str] = lambda field: field or ""
) -> dict:
    """What a form shows of a refusal: each input's messages at the input (`inputs`, by the name
    `input_of` gives an error's field), the others above the form as (field, message) `others`."""
    inputs: dict[str, str] = {}
    others: list[tuple[str, str]] = []
    for error in exc.errors:
        if name := input_of(error.field):
            inputs[name] = f"{inputs[name]} {error.message}" if name in inputs else error.message
        else:
            others.append((error.field or "", error.message))
    return {"message": exc.message, "field": exc.field or "", "inputs": inputs, "others": others}


def console_url(request: HttpRequest) -> str:
    return settings.CONSOLE_URL or request.build_absolute_uri("/")


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    context = {"lifetimes": TOKEN_LIFETIMES, "console_url": console_url(request), "lifetime": "90"}
    if request.method == "POST":
        name = request.POST.get("name", "")
        context["lifetime"] = request.POST.get("lifetime", "")
        days = TOKEN_LIFETIMES.get(context["lifetime"])
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            token, raw = services.api_token_create(user=request.user, name=name, expires_at=expires_at)
        except ApplicationError as exc:
            context.update(error=exc.message, name=name)
        else:
            # Post/redirect/get: the token is shown on the next page only, and a reload cannot repost.
            request.session[NEW_TOKEN_KEY] = {"id": token.pk, "token": raw}
            return redirect("tokens")
    if new := request.session.pop(NEW_TOKEN_KEY, None):
        context.update(new_token=new["token"], new_token_row=ApiToken.objects.filter(pk=new["id"]).first())
    context["tokens"] = selectors.api_tokens_for_user(request.user)
    projects = selectors.projects_for_user(request.user)
    context["snippet_project"] = request.session.get(SESSION_KEY) or next(
        iter(projects.values_list("slug", flat=True)), "my-project"
    )
    return render(request, "core/tokens.html", context, status=400 if context.get("error") else 200)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    services.api_token_revoke(token=token)
    if request.headers.get("HX-Request"):
        return render(request, "core/_token_row.html", {"token": token})
    messages.success(request, f"Token '{token.name}' was revoked.")
    return redirect("tokens")
