"""The `ml v1` `projects.models` and `projects.models.versions` resources, and `projects.predict`
for WSGI servers (prediction_app.gateway serves it before Django under uvicorn).

Paths and bodies follow the discovery document that ships with google-api-python-client, so
`googleapiclient.discovery.build("ml", "v1", ...)` pointed at the console works unchanged."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from mlplatform.core.models import Role
from mlplatform.gcp.views import GoogleApiView, operation_json
from prediction_app import selectors, services
from prediction_app.bodies import model_json, version_json
from prediction_app.gateway import predict_gateway
from prediction_app.models import Model, Version


class PredictionApi(GoogleApiView):
    def model(self, project: str, model: str, *, needs: Role = Role.VIEWER) -> Model:
        return selectors.model_get(project=self.project(project, needs=needs), name=model)

    def version(self, project: str, model: str, version: str, *, needs: Role = Role.VIEWER) -> Version:
        return selectors.version_get(model=self.model(project, model, needs=needs), name=version)

    def listed(self, request: Request, query, *, key: str, to_json, scope: str) -> Response:
        """A list method's answer; an empty list is `{}`, as proto3 JSON leaves out empty fields."""
        response = self.paged(request, query, key=key, to_json=to_json, scope=scope)
        if not response.data[key]:
            del response.data[key]
        return response


class ModelListApi(PredictionApi):
    """projects.models.list (`filter`, `pageSize`, `pageToken`) and projects.models.create."""

    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        return self.listed(
            request,
            lambda filter_text: selectors.models_list(project=obj, filter_text=filter_text),
            key="models",
            to_json=model_json,
            scope=f"models/{obj.pk}",
        )

    def post(self, request: Request, project: str) -> Response:
        obj = self.project(project, needs=Role.EDITOR)
        model = services.model_create(project=obj, body=request.data, user=request.user)
        return Response(model_json(selectors.model_get(project=obj, name=model.name)))


class ModelApi(PredictionApi):
    """projects.models.get, patch (an UPDATE_MODEL operation) and delete (a DELETE_MODEL one)."""

    def get(self, request: Request, project: str, model: str) -> Response:
        return Response(model_json(self.model(project, model)))

    def patch(self, request: Request, project: str, model: str) -> Response:
        obj = self.model(project, model, needs=Role.EDITOR)
        mask = request.query_params.get("updateMask", "")
        return Response(operation_json(services.model_patch(model=obj, body=request.data, update_mask=mask)))

    def delete(self, request: Request, project: str, model: str) -> Response:
        obj = self.model(project, model, needs=Role.EDITOR)
        return Response(operation_json(services.model_delete(model=obj)))


class VersionListApi(PredictionApi):
    """projects.models.versions.list and create (a CREATE_VERSION operation)."""

    def get(self, request: Request, project: str, model: str) -> Response:
        obj = self.model(project, model)
        return self.listed(
            request,
            lambda filter_text: selectors.versions_list(model=obj, filter_text=filter_text),
            key="versions",
            to_json=version_json,
            scope=f"versions/{obj.pk}",
        )

    def post(self, request: Request, project: str, model: str) -> Response:
        obj = self.model(project, model, needs=Role.EDITOR)
        return Response(
            operation_json(services.version_create(model=obj, body=request.data, user=request.user))
        )


class VersionApi(PredictionApi):
    """projects.models.versions.get, patch and delete (operations)."""

    def get(self, request: Request, project: str, model: str, version: str) -> Response:
        return Response(version_json(self.version(project, model, version)))

    def patch(self, request: Request, project: str, model: str, version: str) -> Response:
        obj = self.version(project, model, version, needs=Role.EDITOR)
        operation = services.version_patch(
            version=obj,
            body=request.data,
            update_mask=request.query_params.get("updateMask", ""),
            user=request.user,
        )
        return Response(operation_json(operation))

    def delete(self, request: Request, project: str, model: str, version: str) -> Response:
        obj = self.version(project, model, version, needs=Role.EDITOR)
        return Response(operation_json(services.version_delete(version=obj, user=request.user)))


class VersionSetDefaultApi(PredictionApi):
    """projects.models.versions.setDefault (synchronous): the version, now the default."""

    def post(self, request: Request, project: str, model: str, version: str) -> Response:
        obj = self.version(project, model, version, needs=Role.EDITOR)
        return Response(version_json(services.version_set_default(version=obj)))


class PredictApi(GoogleApiView):
    """projects.predict under a WSGI server: Django runs the gateway's ASGI app for the request."""

    authentication_classes = ()  # the gateway checks the bearer token and the role itself
    permission_classes = ()

    def post(self, request: Request, project: str, model: str, version: str | None = None) -> HttpResponse:
        return run_gateway(request, credential_of(request))


def credential_of(request) -> tuple[str, object] | None:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return ("bearer", token.strip()) if scheme.lower() == "bearer" and token.strip() else None


def run_gateway(request, credential, *, path: str | None = None, body: bytes | None = None) -> HttpResponse:
    """The gateway's answer to a Django request (its path and body, unless given) as Django's."""
    body = request.body if body is None else body
    scope = {
        "type": "http",
        "method": "POST",
        "path": path or request.path,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "query_string": b"",
    }
    answer: dict = {"status": 500, "headers": [], "body": b""}

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], message.get("headers", [])
        else:
            answer["body"] += message.get("body", b"")

    async def call() -> None:
        await predict_gateway.predict(scope, receive, send, credential=credential, in_request=True)
        await predict_gateway.forwarder.close()  # this event loop ends with the request

    async_to_sync(call)()
    response = HttpResponse(answer["body"], status=answer["status"])
    for name, value in answer["headers"]:
        if name.lower() not in (b"content-length", b"transfer-encoding", b"connection"):
            response[name.decode("latin-1")] = value.decode("latin-1")
    return response
