"""The native API's exception handler."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mlplatform.core.errors import ApplicationError


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: `ApplicationError` keeps DRF's shapes (`{field: [reason]}` or
    `{"detail": reason}`), with the status its code maps to; every refusal of a request checked
    field by field is in the body."""
    if isinstance(exc, ApplicationError):
        if len(exc.errors) == 1 and not exc.field:
            return Response({"detail": exc.message}, status=exc.code.http_status)
        body: dict[str, list[str]] = {}
        for error in exc.errors:
            body.setdefault(error.field or "non_field_errors", []).append(error.message)
        return Response(body, status=exc.code.http_status)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
