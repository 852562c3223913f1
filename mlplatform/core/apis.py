"""Native REST API for projects, members and personal API tokens (`/api/`)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlplatform.core import selectors, services
from mlplatform.core.models import ApiToken, Membership, Project, Role


class ProjectScopedApi(APIView):
    """Base of the native API's views under /api/projects/{project}/."""

    def project(self, slug: str, needs: Role = Role.VIEWER) -> Project:
        """The project named in the URL, when the caller's role allows `needs` (else 404 or 403)."""
        return selectors.project_get_for_user(slug=slug, user=self.request.user, needs=needs)[0]


class ProjectOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["slug", "display_name", "description", "role", "created_at", "updated_at"]

    def get_role(self, project: Project) -> str | None:
        role = selectors.project_role(project, self.context["request"].user)
        return role.value if role else None


class ProjectCreateInput(serializers.Serializer):
    slug = serializers.CharField(max_length=100)
    display_name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    description = serializers.CharField(required=False, default="", allow_blank=True)
    owner = serializers.CharField(required=False, help_text="Username of the first admin; you by default.")


class ProjectUpdateInput(serializers.Serializer):
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)


class ProjectListApi(APIView):
    def get_permissions(self):
        return [IsAdminUser()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(responses=ProjectOutput(many=True), summary="Projects you are a member of")
    def get(self, request: Request) -> Response:
        projects = selectors.projects_for_user(request.user)
        return Response(ProjectOutput(projects, many=True, context={"request": request}).data)

    @extend_schema(
        request=ProjectCreateInput, responses={201: ProjectOutput}, summary="Create a project (staff)"
    )
    def post(self, request: Request) -> Response:
        data = _valid(ProjectCreateInput, request)
        owner = request.user
        if data.get("owner"):
            owner = selectors.user_by_username(data["owner"], field="owner")
        project = services.project_create(
            slug=data["slug"], owner=owner, display_name=data["display_name"], description=data["description"]
        )
        return Response(
            ProjectOutput(project, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOutput)
    def get(self, request: Request, project: str) -> Response:
        obj, _ = selectors.project_get_for_user(slug=project, user=request.user)
        return Response(ProjectOutput(obj, context={"request": request}).data)

    @extend_schema(request=ProjectUpdateInput, responses=ProjectOutput, summary="Rename a project (admin)")
    def patch(self, request: Request, project: str) -> Response:
        obj, _ = selectors.project_get_for_user(slug=project, user=request.user, needs=Role.ADMIN)
        data = _valid(ProjectUpdateInput, request)
        obj = services.project_update(project=obj, **data)
        return Response(ProjectOutput(obj, context={"request": request}).data)


class MemberOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class MemberInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberListApi(APIView):
    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request: Request, project: str) -> Response:
        obj, _ = selectors.project_get_for_user(slug=project, user=request.user)
        return Response(MemberOutput(selectors.project_members(obj), many=True).data)

    @extend_schema(request=MemberInput, responses={201: MemberOutput}, summary="Add a member (admin)")
    def post(self, request: Request, project: str) -> Response:
        obj, _ = selectors.project_get_for_user(slug=project, user=request.user, needs=Role.ADMIN)
        data = _valid(MemberInput, request)
        membership = services.membership_set(project=obj, username=data["username"], role=data["role"])
        return Response(MemberOutput(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    @extend_schema(request=MemberRoleInput, responses=MemberOutput, summary="Change a member's role (admin)")
    def patch(self, request: Request, project: str, username: str) -> Response:
        obj, _ = selectors.project_get_for_user(slug=project, user=request.user, needs=Role.ADMIN)
        get_object_or_404(Membership, project=obj, user__username=username)
        data = _valid(MemberRoleInput, request)
        membership = services.membership_set(project=obj, username=username, role=data["role"])
        return Response(MemberOutput(membership).data)

    @extend_schema(responses={204: None}, summary="Remove a member (admin)")
    def delete(self, request: Request, project: str, username: str) -> Response:
        obj, _ = selectors.project_get_for_user(slug=project, user=request.user, needs=Role.ADMIN)
        services.membership_remove(project=obj, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "status", "created_at", "expires_at", "last_used_at", "revoked_at"]


class TokenCreatedOutput(TokenOutput):
    token = serializers.CharField(help_text="The token itself. It is shown this once and never again.")

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "token"]


class TokenInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class TokenListApi(APIView):
    @extend_schema(responses=TokenOutput(many=True), summary="Your API tokens")
    def get(self, request: Request) -> Response:
        return Response(TokenOutput(selectors.api_tokens_for_user(request.user), many=True).data)

    @extend_schema(request=TokenInput, responses={201: TokenCreatedOutput}, summary="Issue an API token")
    def post(self, request: Request) -> Response:
        data = _valid(TokenInput, request)
        token, raw = services.api_token_create(
            user=request.user, name=data["name"], expires_at=data["expires_at"]
        )
        token.token = raw
        return Response(TokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    @extend_schema(responses={204: None}, summary="Revoke one of your API tokens")
    def delete(self, request: Request, token_id: int) -> Response:
        token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
        services.api_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
