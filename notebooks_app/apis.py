"""Native REST API for notebooks (`/api/projects/{p}/notebooks/`) and the image catalog.

Who may read and who may write is selectors.Access: members read; editors and admins create, start,
stop, change and delete. A notebook's Jupyter is reached through the proxy at its `url`, with the
same bearer token.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlplatform.compute.apis import StrictSerializer
from mlplatform.core.apis import ProjectScopedApi
from notebooks_app import selectors, services
from notebooks_app.models import Notebook, NotebookImage
from notebooks_app.selectors import Access

# --- input ----------------------------------------------------------------------------------------

_ENV = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=4096), required=False)
_STORAGE = serializers.ListField(
    child=serializers.CharField(max_length=63),
    required=False,
    help_text="Names of the project's storage connections to wire in; default: all of them",
)


class NotebookInput(StrictSerializer):
    name = serializers.CharField(max_length=63)
    image = serializers.CharField(
        max_length=63, required=False, help_text="A catalog image; default: the default"
    )
    flavor = serializers.CharField(max_length=63, default="cpu")
    gpus = serializers.IntegerField(min_value=0, max_value=64, default=0)
    cpu = serializers.DecimalField(
        max_digits=8, decimal_places=3, required=False, help_text="default: per flavor"
    )
    memory_gib = serializers.DecimalField(max_digits=10, decimal_places=3, required=False)
    home_size_gib = serializers.IntegerField(min_value=1, default=10)
    env = _ENV
    storage_connections = _STORAGE
    location = serializers.CharField(max_length=63, required=False, help_text="default: the first")
    start = serializers.BooleanField(default=True, help_text="Queue its first start at once.")


class NotebookUpdateInput(StrictSerializer):
    image = serializers.CharField(max_length=63, required=False)
    flavor = serializers.CharField(max_length=63, required=False)
    gpus = serializers.IntegerField(min_value=0, max_value=64, required=False)
    cpu = serializers.DecimalField(max_digits=8, decimal_places=3, required=False)
    memory_gib = serializers.DecimalField(max_digits=10, decimal_places=3, required=False)
    home_size_gib = serializers.IntegerField(min_value=1, required=False)
    env = _ENV
    storage_connections = _STORAGE


class DeleteInput(StrictSerializer):
    confirm = serializers.BooleanField(default=False)


# --- output ---------------------------------------------------------------------------------------


class NotebookOutput(serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug")
    owner = serializers.CharField(source="owner.username", default=None, allow_null=True)
    state = serializers.ChoiceField(choices=Notebook.State.choices)
    reason = serializers.CharField()
    queue_position = serializers.IntegerField(allow_null=True)
    image = serializers.CharField(source="image.name")
    image_reference = serializers.CharField(source="image.image")
    flavor = serializers.CharField(source="flavor.name")
    url = serializers.CharField(source="proxy_path", help_text="Jupyter, through the proxy")
    workload = serializers.UUIDField(source="workload_id", allow_null=True)
    storage_connections = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Notebook
        fields = [
            "name",
            "project",
            "owner",
            "state",
            "reason",
            "queue_position",
            "desired_state",
            "image",
            "image_reference",
            "flavor",
            "gpus",
            "cpu",
            "memory_gib",
            "home_size_gib",
            "env",
            "storage_connections",
            "location",
            "url",
            "workload",
            "created_at",
            "updated_at",
        ]


class NotebookImageOutput(serializers.ModelSerializer):
    flavors = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = NotebookImage
        fields = ["name", "image", "description", "flavors", "is_default"]


# --- views ----------------------------------------------------------------------------------------


class NotebookApi(ProjectScopedApi):
    def notebook(self, slug: str, name: str, access: Access = Access.SEE) -> Notebook:
        return selectors.notebook_get(project=self.project(slug, access.role), name=name)

    def answer(self, notebook: Notebook, code: int = status.HTTP_200_OK) -> Response:
        return Response(NotebookOutput(notebook).data, status=code)


class NotebookListApi(NotebookApi):
    @extend_schema(responses=NotebookOutput(many=True), summary="The project's notebooks")
    def get(self, request: Request, project: str) -> Response:
        notebooks = selectors.notebooks_list(project=self.project(project))
        return Response(NotebookOutput(notebooks, many=True).data)

    @extend_schema(
        request=NotebookInput, responses={201: NotebookOutput}, summary="Create (and start) a notebook"
    )
    def post(self, request: Request, project: str) -> Response:
        obj = self.project(project, Access.CHANGE.role)
        serializer = NotebookInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        notebook = services.notebook_create(project=obj, owner=request.user, **serializer.validated_data)
        return self.answer(selectors.notebook_get(project=obj, name=notebook.name), status.HTTP_201_CREATED)


class NotebookDetailApi(NotebookApi):
    @extend_schema(responses=NotebookOutput, summary="A notebook")
    def get(self, request: Request, project: str, name: str) -> Response:
        return self.answer(self.notebook(project, name))

    @extend_schema(
        request=NotebookUpdateInput, responses=NotebookOutput, summary="Change a stopped notebook's shape"
    )
    def patch(self, request: Request, project: str, name: str) -> Response:
        notebook = self.notebook(project, name, Access.CHANGE)
        serializer = NotebookUpdateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.answer(services.notebook_update(notebook=notebook, **serializer.validated_data))

    @extend_schema(
        parameters=[
            OpenApiParameter("confirm", OpenApiTypes.BOOL, description="required: the home goes too")
        ],
        request=DeleteInput,
        responses={202: NotebookOutput},
        summary="Delete a notebook and its home volume",
    )
    def delete(self, request: Request, project: str, name: str) -> Response:
        notebook = self.notebook(project, name, Access.CHANGE)
        serializer = DeleteInput(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        confirm = serializer.validated_data["confirm"] or request.query_params.get("confirm", "").lower() in (
            "1",
            "true",
            "yes",
        )
        notebook = services.notebook_delete(notebook=notebook, actor=request.user, confirm=confirm)
        return self.answer(notebook, status.HTTP_202_ACCEPTED)


class NotebookStartApi(NotebookApi):
    @extend_schema(request=None, responses=NotebookOutput, summary="Start a stopped notebook")
    def post(self, request: Request, project: str, name: str) -> Response:
        notebook = services.notebook_start(
            notebook=self.notebook(project, name, Access.CHANGE), actor=request.user
        )
        return self.answer(selectors.notebook_get(project=notebook.project, name=name))


class NotebookStopApi(NotebookApi):
    @extend_schema(request=None, responses=NotebookOutput, summary="Stop a notebook (its home stays)")
    def post(self, request: Request, project: str, name: str) -> Response:
        notebook = self.notebook(project, name, Access.CHANGE)
        return self.answer(services.notebook_stop(notebook=notebook, actor=request.user))


class NotebookImageListApi(APIView):
    @extend_schema(responses=NotebookImageOutput(many=True), summary="The notebook image catalog")
    def get(self, request: Request) -> Response:
        return Response(NotebookImageOutput(selectors.notebook_images(), many=True).data)
