"""The project-level parts of the `ml v1` facade: getConfig, locations and operations.

Paths and bodies follow the discovery document that ships with google-api-python-client,
so `googleapiclient.discovery.build("ml", "v1", ...)` pointed at the console works unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlplatform.core.models import Project, Role
from mlplatform.core.selectors import project_get_for_user
from mlplatform.gcp import operation_kinds, selectors
from mlplatform.gcp.errors import gcp_exception_handler
from mlplatform.gcp.models import Operation
from mlplatform.gcp.paging import page_size_from, paginate
from mlplatform.gcp.proto import timestamp

ML_OPERATION_METADATA = "type.googleapis.com/google.cloud.ml.v1.OperationMetadata"
CAPABILITIES = ("TRAINING", "BATCH_PREDICTION", "ONLINE_PREDICTION")


class GoogleApiView(APIView):
    """Base of every facade view: Google's error shape, and the caller's access to `{project}`.

    Query parameters the client always sends (`alt=json`) are accepted and ignored.
    """

    def get_exception_handler(self):
        return gcp_exception_handler

    def project(self, slug: str, *, needs: Role = Role.VIEWER) -> Project:
        project, _ = project_get_for_user(slug=slug, user=self.request.user, needs=needs)
        return project

    def paged(
        self,
        request: Request,
        query: Callable[[str], QuerySet],
        *,
        key: str,
        to_json,
        scope: str,
        prepare: Callable[[list], object] | None = None,
    ) -> Response:
        """A list method's answer: one page of `query(filter)`, newest first, and the next page's token.
        `prepare` sees the page's items before they become JSON (to fetch what they all need at once)."""
        params = request.query_params
        filter_text = params.get("filter", "")
        page = paginate(
            query(filter_text),
            page_size=page_size_from(params.get("pageSize")),
            page_token=params.get("pageToken", ""),
            scope=f"{scope}/{filter_text}",
        )
        if prepare is not None:
            prepare(page.items)
        body = {key: [to_json(item) for item in page.items]}
        if page.next_page_token:
            body["nextPageToken"] = page.next_page_token
        return Response(body)


def operation_json(operation: Operation) -> dict:
    metadata = {
        "@type": ML_OPERATION_METADATA,
        "operationType": operation.operation_type,
        "isCancellationRequested": operation.cancel_requested,
        **operation.metadata,
        "createTime": timestamp(operation.create_time),
    }
    if operation.end_time:
        metadata["endTime"] = timestamp(operation.end_time)
    body = {"name": operation.name, "metadata": metadata, "done": operation.done}
    if operation.error:
        body["error"] = operation.error
    elif operation.done:
        body["response"] = operation.response or {}
    return body


class ProjectConfigApi(GoogleApiView):
    """projects.getConfig: the identity workloads of the project run as."""

    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        return Response(
            {
                "serviceAccount": f"workloads@{obj.slug}.mlplatform.internal",
                "serviceAccountProject": str(obj.pk),
                "config": {"tpuServiceAccount": ""},
            }
        )


def location_json(project: Project, location: str, accelerators: list[str]) -> dict:
    return {
        "name": f"projects/{project.slug}/locations/{location}",
        "capabilities": [
            {"type": capability, "availableAccelerators": accelerators} for capability in CAPABILITIES
        ],
    }


class LocationListApi(GoogleApiView):
    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        page_size_from(request.query_params.get("pageSize"))  # validated; all locations fit one page
        accelerators = selectors.project_accelerator_types(obj)
        locations = [location_json(obj, name, accelerators) for name in selectors.locations_list()]
        return Response({"locations": locations})


class LocationApi(GoogleApiView):
    def get(self, request: Request, project: str, location: str) -> Response:
        obj = self.project(project)
        selectors.location_get(location=location)
        return Response(location_json(obj, location, selectors.project_accelerator_types(obj)))


class OperationListApi(GoogleApiView):
    def get(self, request: Request, project: str, location: str = "") -> Response:
        obj = self.project(project)
        if location:
            selectors.location_get(location=location)
        return self.paged(
            request,
            lambda filter_text: selectors.operations_list(
                project=obj, location=location, filter_text=filter_text
            ).select_related("project"),
            key="operations",
            to_json=lambda op: operation_json(operation_kinds.operation_refreshed(op)),
            scope=f"{obj.pk}/{location}",
        )


class OperationApi(GoogleApiView):
    def get(self, request: Request, project: str, operation: str, location: str = "") -> Response:
        obj = self.project(project)
        op = selectors.operation_get(project=obj, operation_id=operation, location=location)
        return Response(operation_json(operation_kinds.operation_refreshed(op)))


class OperationCancelApi(GoogleApiView):
    def post(self, request: Request, project: str, operation: str, location: str = "") -> Response:
        obj = self.project(project, needs=Role.EDITOR)
        op = selectors.operation_get(project=obj, operation_id=operation, location=location)
        operation_kinds.operation_cancel(operation=op, user=request.user)
        return Response({})
