"""Pages answer refusals from services with the matching status instead of a 500."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBadRequest
from django.views import defaults

from mlplatform.core.errors import ApplicationError, ErrorCode


class ApplicationErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, ApplicationError):
            return None
        if exception.code is ErrorCode.NOT_FOUND:
            return defaults.page_not_found(request, Http404(exception.message))
        if exception.code is ErrorCode.PERMISSION_DENIED:
            return defaults.permission_denied(request, PermissionDenied(exception.message))
        return HttpResponseBadRequest(exception.message, content_type="text/plain; charset=utf-8")
