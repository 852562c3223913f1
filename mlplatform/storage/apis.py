"""Native REST API for storage connections and objects (`/api/projects/{p}/storage/...`).

Credentials go in and never come out: no response carries them.
"""

from __future__ import annotations

import mimetypes

from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from mlplatform.core.apis import ProjectScopedApi
from mlplatform.core.models import Role
from mlplatform.core.streaming import streaming_response
from mlplatform.storage import selectors, services
from mlplatform.storage.models import StorageConnection
from mlplatform.storage.uris import parse_uri

URI_PARAM = OpenApiParameter(
    "uri", str, required=True, description="e.g. gs://bucket/path/ or s3://bucket/key"
)


class ConnectionOutput(serializers.ModelSerializer):
    class Meta:
        model = StorageConnection
        fields = [
            "name",
            "kind",
            "endpoint_url",
            "region",
            "path_style",
            "buckets",
            "default_bucket",
            "is_default",
            "has_credentials",
            "created_at",
        ]


class ConnectionInput(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    kind = serializers.ChoiceField(choices=StorageConnection.Kind.choices)
    buckets = serializers.ListField(child=serializers.CharField(max_length=63), allow_empty=False)
    default_bucket = serializers.CharField(required=False, default="", allow_blank=True)
    endpoint_url = serializers.URLField(required=False, default="", allow_blank=True)
    region = serializers.CharField(required=False, default="", allow_blank=True, max_length=63)
    path_style = serializers.BooleanField(required=False, default=True)
    make_default = serializers.BooleanField(required=False, default=False)
    access_key_id = serializers.CharField(required=False, write_only=True, allow_blank=True)
    secret_access_key = serializers.CharField(required=False, write_only=True, allow_blank=True)
    service_account_json = serializers.CharField(required=False, write_only=True, allow_blank=True)


class CheckOutput(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ObjectOutput(serializers.Serializer):
    name = serializers.CharField()
    uri = serializers.CharField()
    size = serializers.IntegerField()
    updated = serializers.DateTimeField(allow_null=True)
    content_type = serializers.CharField(allow_null=True)


class ListingOutput(serializers.Serializer):
    uri = serializers.CharField()
    folders = serializers.ListField(child=serializers.DictField())
    objects = ObjectOutput(many=True)
    next_page_token = serializers.CharField(allow_null=True)


def listing_json(uri, page) -> dict:
    base = str(uri) if uri.is_prefix else f"{uri}/"
    return {
        "uri": base,
        "folders": [
            {"name": prefix.rstrip("/").rsplit("/", 1)[-1], "uri": f"{uri.scheme}://{uri.bucket}/{prefix}"}
            for prefix in page.prefixes
        ],
        "objects": [
            {
                "name": obj.key.rsplit("/", 1)[-1],
                "uri": f"{uri.scheme}://{uri.bucket}/{obj.key}",
                "size": obj.size,
                "updated": obj.updated,
                "content_type": obj.content_type,
            }
            for obj in page.objects
        ],
        "next_page_token": page.next_page_token,
    }


class ConnectionListApi(ProjectScopedApi):
    @extend_schema(responses=ConnectionOutput(many=True), summary="The project's storage connections")
    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        return Response(ConnectionOutput(selectors.connections_list(project=obj), many=True).data)

    @extend_schema(
        request=ConnectionInput, responses={201: ConnectionOutput}, summary="Add a connection (admin)"
    )
    def post(self, request: Request, project: str) -> Response:
        obj = self.project(project, Role.ADMIN)
        serializer = ConnectionInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        secret_fields = ("access_key_id", "secret_access_key", "service_account_json")
        credentials = {key: data.pop(key) for key in secret_fields if data.get(key)}
        for key in secret_fields:
            data.pop(key, None)
        connection = services.storage_connection_create(
            project=obj, credentials=credentials, created_by=request.user, **data
        )
        return Response(ConnectionOutput(connection).data, status=status.HTTP_201_CREATED)


class ConnectionDetailApi(ProjectScopedApi):
    @extend_schema(responses={204: None}, summary="Remove a connection (admin); the data stays")
    def delete(self, request: Request, project: str, name: str) -> Response:
        obj = self.project(project, Role.ADMIN)
        services.storage_connection_delete(connection=selectors.connection_get(project=obj, name=name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionTestApi(ProjectScopedApi):
    @extend_schema(request=None, responses=CheckOutput(many=True), summary="Try list, write, read, delete")
    def post(self, request: Request, project: str, name: str) -> Response:
        obj = self.project(project, Role.EDITOR)
        checks = services.storage_connection_test(connection=selectors.connection_get(project=obj, name=name))
        return Response(CheckOutput(checks, many=True).data)


class ObjectsApi(ProjectScopedApi):
    parser_classes = []  # PUT bodies are the object's bytes, streamed to the store

    @extend_schema(parameters=[URI_PARAM, OpenApiParameter("page_token", str)], responses=ListingOutput)
    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        uri = parse_uri(request.query_params.get("uri", ""))
        page = selectors.objects_list(project=obj, uri=uri, page_token=request.query_params.get("page_token"))
        return Response(ListingOutput(listing_json(uri, page)).data)

    @extend_schema(
        parameters=[URI_PARAM],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={201: ObjectOutput},
        summary="Upload the raw request body as the object",
    )
    def put(self, request: Request, project: str) -> Response:
        obj = self.project(project, Role.EDITOR)
        uri = parse_uri(request.query_params.get("uri", ""))
        length = request.META.get("CONTENT_LENGTH")
        info = services.object_write(
            project=obj,
            uri=uri,
            stream=request._request,  # Django's request reads the body as a stream
            size=int(length) if length and length.isdigit() else None,
            content_type=request.content_type or None,
        )
        body = {
            "name": uri.key.rsplit("/", 1)[-1],
            "uri": str(uri),
            "size": info.size,
            "updated": info.updated,
            "content_type": info.content_type,
        }
        return Response(ObjectOutput(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[URI_PARAM], responses={204: None})
    def delete(self, request: Request, project: str) -> Response:
        obj = self.project(project, Role.EDITOR)
        services.object_delete(project=obj, uri=parse_uri(request.query_params.get("uri", "")))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ObjectContentApi(ProjectScopedApi):
    @extend_schema(parameters=[URI_PARAM], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, project: str):
        obj = self.project(project)
        uri = parse_uri(request.query_params.get("uri", ""))
        info, chunks = selectors.object_open(project=obj, uri=uri)
        name = uri.key.rsplit("/", 1)[-1]
        content_type = info.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = streaming_response(request._request, chunks, content_type=content_type)
        response["Content-Length"] = str(info.size)
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response


class FolderApi(ProjectScopedApi):
    @extend_schema(parameters=[URI_PARAM], request=None, responses={201: None}, summary="Create a folder")
    def post(self, request: Request, project: str) -> Response:
        obj = self.project(project, Role.EDITOR)
        services.folder_create(project=obj, uri=parse_uri(request.query_params.get("uri", "")))
        return Response(status=status.HTTP_201_CREATED)
