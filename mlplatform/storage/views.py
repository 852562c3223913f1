"""The Storage pages: connections (add, test, remove) and a bucket browser."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Role
from mlplatform.core.paging import search_text
from mlplatform.core.selectors import project_role
from mlplatform.core.views import form_errors, project_for_view
from mlplatform.storage import selectors, services
from mlplatform.storage.models import StorageConnection
from mlplatform.storage.uris import ObjectUri, parse_uri

# The add form's inputs: an error about one of them is shown at it, any other above the form.
BROWSE_PAGE_SIZE = 50  # objects and folders per page of a folder
CONNECTION_INPUTS = (
    "name",
    "kind",
    "buckets",
    "endpoint_url",
    "region",
    "access_key_id",
    "secret_access_key",
    "service_account_json",
)


@login_required
def storage(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    connections = selectors.connections_list(project=obj)
    context = {
        "project": obj,
        "connections": connections,
        "kinds": StorageConnection.Kind.choices,
        "role": project_role(obj, request.user),
        "form": {"path_style": True, "make_default": not connections.exists()},
    }
    if request.method == "POST":
        project_for_view(request, project, needs=Role.ADMIN)
        form = request.POST
        credentials = {
            key: form.get(key, "").strip()
            for key in ("access_key_id", "secret_access_key", "service_account_json")
            if form.get(key, "").strip()
        }
        try:
            connection = services.storage_connection_create(
                project=obj,
                name=form.get("name", "").strip(),
                kind=form.get("kind", ""),
                buckets=[b.strip() for b in form.get("buckets", "").replace(",", " ").split() if b.strip()],
                endpoint_url=form.get("endpoint_url", "").strip(),
                region=form.get("region", "").strip(),
                path_style=form.get("path_style") == "on",
                make_default=form.get("make_default") == "on",
                credentials=credentials,
                created_by=request.user,
            )
        except ApplicationError as exc:
            # The form comes back as typed, secrets included: this answers the POST of the admin who
            # typed them (a page no one else is sent), so a typo elsewhere costs no retyping.
            checked = {name: form.get(name) == "on" for name in ("path_style", "make_default")}
            error = form_errors(exc, lambda field: field if field in CONNECTION_INPUTS else "")
            context.update(error=error, form={**form.dict(), **checked})
            response = render(request, "storage/storage.html", context, status=400)
            add_never_cache_headers(response)  # it holds the typed secret
            return response
        messages.success(request, f"Connection '{connection.name}' added.")
        return redirect("storage", project=obj.slug)
    return render(request, "storage/storage.html", context)


@login_required
@require_POST
def connection_test(request: HttpRequest, project: str, name: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    connection = selectors.connection_get(project=obj, name=name)
    checks = services.storage_connection_test(connection=connection)
    return render(request, "storage/_checks.html", {"checks": checks, "connection": connection})


@login_required
@require_POST
def connection_delete(request: HttpRequest, project: str, name: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.ADMIN)
    services.storage_connection_delete(connection=selectors.connection_get(project=obj, name=name))
    messages.success(request, f"Connection '{name}' removed; the data in its buckets is untouched.")
    return redirect("storage", project=obj.slug)


def _breadcrumbs(uri: ObjectUri) -> list[tuple[str, str]]:
    crumbs = [(uri.bucket, f"{uri.scheme}://{uri.bucket}/")]
    path = ""
    for part in [p for p in uri.key.split("/") if p]:
        path += part + "/"
        crumbs.append((part, f"{uri.scheme}://{uri.bucket}/{path}"))
    return crumbs


@login_required
def browse(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    try:
        uri = parse_uri(request.GET.get("uri", ""))
        if not uri.is_prefix:
            uri = ObjectUri(uri.scheme, uri.bucket, uri.key + "/")
        page = selectors.objects_list(
            project=obj,
            uri=uri,
            page_token=request.GET.get("page_token") or None,
            page_size=BROWSE_PAGE_SIZE,
            starting_with=search_text(request).lstrip("/"),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("storage", project=obj.slug)
    role = project_role(obj, request.user)
    context = {
        "project": obj,
        "uri": uri,
        "page": page,
        "q": search_text(request).lstrip("/"),
        "paged": bool(request.GET.get("page_token")),
        "crumbs": _breadcrumbs(uri),
        "can_write": role.allows(Role.EDITOR),
        "max_upload": settings.STORAGE_UPLOAD_MAX_BYTES,
        "api_objects": reverse("api-storage-objects", kwargs={"project": obj.slug}),
        "api_content": reverse("api-storage-content", kwargs={"project": obj.slug}),
    }
    return render(request, "storage/browse.html", context)


@login_required
@require_POST
def object_delete(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    uri = parse_uri(request.POST.get("uri", ""))
    try:
        services.object_delete(project=obj, uri=uri)
        messages.success(request, f"Deleted {uri}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(f"{reverse('storage-browse', kwargs={'project': obj.slug})}?uri={uri.parent}")


@login_required
@require_POST
def folder_create(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project, needs=Role.EDITOR)
    parent = parse_uri(request.POST.get("uri", ""))
    name = request.POST.get("name", "").strip().strip("/")
    try:
        folder = parse_uri(f"{parent}{name}/")
        services.folder_create(project=obj, uri=folder)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(f"{reverse('storage-browse', kwargs={'project': obj.slug})}?uri={parent}")
