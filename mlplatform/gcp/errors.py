"""Google's error shape for the GCP-compatible facades.

`{"error": {"code": 404, "message": "...", "status": "NOT_FOUND", "details": [...]}}`, which
`googleapiclient` turns into an `HttpError` with the message and status.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from mlplatform.core.errors import ApplicationError, ErrorCode

logger = logging.getLogger(__name__)

_DRF_CODES = {
    400: ErrorCode.INVALID_ARGUMENT,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.UNIMPLEMENTED,
    415: ErrorCode.INVALID_ARGUMENT,
    429: ErrorCode.RESOURCE_EXHAUSTED,
}

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def google_error_body(
    code: ErrorCode, message: str, *, field: str | None = None, http_status: int | None = None
) -> dict:
    """The error body; its `code` is the HTTP status it is sent with (`http_status`, else the code's)."""
    error = {"code": http_status or code.http_status, "message": message, "status": code.rpc_status}
    if field:
        error["message"] = f"{field}: {message}"
        error["details"] = [
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return {"error": error}


def _flatten(detail, prefix: str = "") -> tuple[str | None, str]:
    """The first (field, reason) of a DRF validation detail, however nested."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            return _flatten(value, "" if key == "non_field_errors" else name)
    if isinstance(detail, list) and detail:
        return _flatten(detail[0], prefix)
    return (prefix or None), str(detail)


def gcp_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler for the facades: every failure in Google's shape, never HTML."""
    if isinstance(exc, ApplicationError):
        body, status = google_error_body(exc.code, exc.message, field=exc.field), exc.code.http_status
        if len(exc.errors) > 1:  # a request checked field by field: every violation, the first in the message
            violations = [{"field": e.field or "", "description": e.message} for e in exc.errors]
            body["error"]["details"] = [{"@type": BAD_REQUEST, "fieldViolations": violations}]
    elif isinstance(exc, (Http404, PermissionDenied)):
        code = ErrorCode.NOT_FOUND if isinstance(exc, Http404) else ErrorCode.PERMISSION_DENIED
        body, status = google_error_body(code, str(exc) or code.name.title()), code.http_status
    elif isinstance(exc, exceptions.APIException):
        code = _DRF_CODES.get(exc.status_code, ErrorCode.INVALID_ARGUMENT)
        field, message = _flatten(exc.detail)
        if isinstance(exc, exceptions.ParseError):
            message = f"Invalid JSON payload received. {message}"
        body = google_error_body(code, message, field=field, http_status=exc.status_code)
        status = exc.status_code
    elif isinstance(exc, RequestDataTooBig):
        code = ErrorCode.REQUEST_TOO_LARGE
        body, status = (
            google_error_body(code, f"Request payload size exceeds the limit: {exc}"),
            code.http_status,
        )
    else:
        logger.exception("Unhandled error in %s", context.get("view"))
        code = ErrorCode.INTERNAL
        body, status = google_error_body(code, "Internal error encountered."), code.http_status
    response = Response(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def google_not_found(request, exception=None) -> JsonResponse:
    """404 for unknown paths under the facades' prefixes."""
    body = google_error_body(ErrorCode.NOT_FOUND, f"Method not found: {request.method} {request.path}")
    return JsonResponse(body, status=404)
