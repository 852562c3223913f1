"""Native REST API for models and versions (`/api/projects/{p}/models/...`), over the services the
`ml v1` facade uses and with its bodies (a Model, a Version, an Operation for what takes time), so
one script can speak either. Members read; editors and admins change models and versions and
predict (selectors.PREDICT_ROLE); errors in the native API's shape."""

from __future__ import annotations

from drf_spectacular.plumbing import build_array_type, build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from mlplatform.core.apis import ProjectScopedApi
from mlplatform.core.models import Role
from mlplatform.gcp.views import operation_json
from prediction_app import selectors, services
from prediction_app.bodies import model_json, version_json
from prediction_app.gcp_apis import run_gateway
from prediction_app.models import Model, Version

BODIES = build_array_type(build_basic_type(OpenApiTypes.OBJECT))


class PredictionApi(ProjectScopedApi):
    def model(self, project: str, model: str, needs: Role = Role.VIEWER) -> Model:
        return selectors.model_get(project=self.project(project, needs), name=model)

    def version(self, project: str, model: str, version: str, needs: Role = Role.VIEWER) -> Version:
        return selectors.version_get(model=self.model(project, model, needs), name=version)


class ModelListApi(PredictionApi):
    @extend_schema(responses={200: BODIES}, summary="The project's models (ml v1 Model bodies)")
    def get(self, request: Request, project: str) -> Response:
        models = selectors.models_list(
            project=self.project(project), filter_text=request.query_params.get("filter", "")
        )
        return Response([model_json(model) for model in models])

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT}, summary="Create a model"
    )
    def post(self, request: Request, project: str) -> Response:
        obj = self.project(project, Role.EDITOR)
        model = services.model_create(project=obj, body=request.data, user=request.user)
        return Response(
            model_json(selectors.model_get(project=obj, name=model.name)), status=status.HTTP_201_CREATED
        )


class ModelDetailApi(PredictionApi):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A model")
    def get(self, request: Request, project: str, model: str) -> Response:
        return Response(model_json(self.model(project, model)))

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Change a model (updateMask)"
    )
    def patch(self, request: Request, project: str, model: str) -> Response:
        obj = self.model(project, model, Role.EDITOR)
        mask = request.query_params.get("updateMask", "")
        return Response(operation_json(services.model_patch(model=obj, body=request.data, update_mask=mask)))

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Delete a model without versions")
    def delete(self, request: Request, project: str, model: str) -> Response:
        return Response(operation_json(services.model_delete(model=self.model(project, model, Role.EDITOR))))


class VersionListApi(PredictionApi):
    @extend_schema(responses={200: BODIES}, summary="A model's versions (ml v1 Version bodies)")
    def get(self, request: Request, project: str, model: str) -> Response:
        obj = self.model(project, model)
        versions = selectors.versions_list(model=obj, filter_text=request.query_params.get("filter", ""))
        return Response([version_json(version) for version in versions])

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses={202: OpenApiTypes.OBJECT}, summary="Create a version"
    )
    def post(self, request: Request, project: str, model: str) -> Response:
        obj = self.model(project, model, Role.EDITOR)
        operation = services.version_create(model=obj, body=request.data, user=request.user)
        return Response(operation_json(operation), status=status.HTTP_202_ACCEPTED)


class VersionDetailApi(PredictionApi):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A version")
    def get(self, request: Request, project: str, model: str, version: str) -> Response:
        return Response(version_json(self.version(project, model, version)))

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Change a version (updateMask)"
    )
    def patch(self, request: Request, project: str, model: str, version: str) -> Response:
        obj = self.version(project, model, version, Role.EDITOR)
        operation = services.version_patch(
            version=obj,
            body=request.data,
            update_mask=request.query_params.get("updateMask", ""),
            user=request.user,
        )
        return Response(operation_json(operation))

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Delete a version")
    def delete(self, request: Request, project: str, model: str, version: str) -> Response:
        obj = self.version(project, model, version, Role.EDITOR)
        return Response(operation_json(services.version_delete(version=obj, user=request.user)))


class VersionDefaultApi(PredictionApi):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, summary="Make a version its model's default")
    def post(self, request: Request, project: str, model: str, version: str) -> Response:
        obj = self.version(project, model, version, Role.EDITOR)
        return Response(version_json(services.version_set_default(version=obj)))


class VersionPredictApi(PredictionApi):
    @extend_schema(
        request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, summary="Predict: {instances: [...]}"
    )
    def post(self, request: Request, project: str, model: str, version: str):
        self.project(project)  # outsiders get 404 here; the gateway checks the role to predict
        path = f"/v1/projects/{project}/models/{model}/versions/{version}:predict"
        return run_gateway(request, ("user", request.user), path=path)
