"""googleapiclient's long GETs: a GET whose URL is over 2,048 characters (a long list filter) is sent
as a POST with `X-HTTP-Method-Override: GET` and the query string as a form-encoded body
(googleapiclient/http.py). The facades serve it as the GET it is."""

from __future__ import annotations

from django.http import HttpRequest, QueryDict

FACADE_PREFIXES = ("/v1/", "/v2/")  # the Google-compatible facades, served at the root
FORM = "application/x-www-form-urlencoded"


class MethodOverrideMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if (
            request.method == "POST"
            and request.path.startswith(FACADE_PREFIXES)
            and request.headers.get("X-HTTP-Method-Override", "").upper() == "GET"
            and request.content_type == FORM
        ):
            # Only GET: an override never turns a request into one that writes.
            request.GET = QueryDict(request.body, encoding=request.encoding)
            request.method = "GET"
        return self.get_response(request)
