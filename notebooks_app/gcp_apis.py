"""The `notebooks v2` facade (Vertex AI Workbench): `/v2/projects/{p}/locations/{l}/...`.

Paths and bodies follow the discovery document that ships with google-api-python-client, so
`googleapiclient.discovery.build("notebooks", "v2", ...)` pointed at the console works unchanged.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response

from mlplatform.core.errors import ApplicationError
from mlplatform.gcp import selectors as gcp_selectors
from mlplatform.gcp import services as gcp_services
from mlplatform.gcp.models import Operation
from mlplatform.gcp.paging import page_size_from, paginate
from mlplatform.gcp.proto import timestamp
from mlplatform.gcp.views import GoogleApiView
from mlplatform.gcp.views import operation_json as ml_operation_json
from notebooks_app import selectors, workbench
from notebooks_app.models import Notebook
from notebooks_app.selectors import Access

OPERATION_METADATA = f"{workbench.API}.OperationMetadata"
ALL_LOCATIONS = "-"  # instances.list's parent `projects/{p}/locations/-`


class WorkbenchApi(GoogleApiView):
    def location(self, project: str, location: str, *, access: Access = Access.SEE):
        obj = self.project(project, needs=access.role)
        return obj, gcp_selectors.location_get(location=location)

    def notebook(self, project: str, location: str, instance: str, *, access=Access.SEE) -> Notebook:
        obj, location = self.location(project, location, access=access)
        return workbench.instance_get(project=obj, location=location, instance_id=instance)

    def console_url(self) -> str:
        return settings.CONSOLE_URL.rstrip("/") or self.request.build_absolute_uri("/").rstrip("/")

    def instance(self, notebook: Notebook) -> dict:
        return workbench.instance_json(notebook, self.console_url())

    def operation(self, operation: Operation) -> Response:
        return Response(operation_json(workbench.operation_refresh(operation, self.console_url())))

    def act(self, project: str, location: str, instance: str, verb: str) -> Response:
        notebook = self.notebook(project, location, instance, access=Access.CHANGE)
        return self.operation(workbench.instance_act(notebook=notebook, verb=verb, user=self.request.user))

    def operation_row(
        self, project: str, location: str, operation: str, *, access: Access = Access.SEE
    ) -> Operation:
        """An instance operation: reading it is seeing the notebook, cancelling or deleting it changing it."""
        obj, location = self.location(project, location, access=access)
        return gcp_selectors.operation_get(project=obj, operation_id=operation, location=location)


def operation_json(operation: Operation) -> dict:
    """ml v1's operation, with the metadata notebooks v2 describes."""
    metadata = {
        "@type": OPERATION_METADATA,
        "createTime": timestamp(operation.create_time),
        "endTime": timestamp(operation.end_time),
        "target": operation.target,
        "verb": operation.operation_type,
        "requestedCancellation": operation.cancel_requested,
        "apiVersion": "v2",
    }
    return ml_operation_json(operation) | {"metadata": {k: v for k, v in metadata.items() if v is not None}}


class LocationListApi(WorkbenchApi):
    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        return Response(
            {"locations": [location_json(obj.slug, name) for name in gcp_selectors.locations_list()]}
        )


class LocationApi(WorkbenchApi):
    def get(self, request: Request, project: str, location: str) -> Response:
        obj, location = self.location(project, location)
        return Response(location_json(obj.slug, location))


def location_json(project: str, location: str) -> dict:
    return {"name": f"projects/{project}/locations/{location}", "locationId": location}


class InstanceListApi(WorkbenchApi):
    def get(self, request: Request, project: str, location: str) -> Response:
        """instances.list of one location, or of all of them for `locations/-`."""
        if location == ALL_LOCATIONS:
            obj = self.project(project)
            notebooks = selectors.notebooks_in(project=obj)
        else:
            obj, location = self.location(project, location)
            notebooks = selectors.notebooks_in(project=obj, location=location)
        params = request.query_params
        if params.get("orderBy"):
            raise ApplicationError("ordering is not supported; instances come newest first.", field="orderBy")
        if params.get("filter"):
            raise ApplicationError("filtering instances is not supported.", field="filter")
        page = paginate(
            notebooks,
            page_size=page_size_from(params.get("pageSize")),
            page_token=params.get("pageToken", ""),
            time_field="created_at",
            scope=f"instances/{obj.pk}/{location}",
        )
        body: dict = {"instances": [self.instance(notebook) for notebook in page.items]}
        if page.next_page_token:
            body["nextPageToken"] = page.next_page_token
        return Response(body)

    def post(self, request: Request, project: str, location: str) -> Response:
        obj, location = self.location(project, location, access=Access.CHANGE)
        operation = workbench.instance_create(
            project=obj,
            location=location,
            instance_id=request.query_params.get("instanceId", ""),
            body=request.data,
            user=request.user,
        )
        return self.operation(operation)


class InstanceApi(WorkbenchApi):
    def get(self, request: Request, project: str, location: str, instance: str) -> Response:
        return Response(self.instance(self.notebook(project, location, instance)))

    def patch(self, request: Request, project: str, location: str, instance: str) -> Response:
        notebook = self.notebook(project, location, instance, access=Access.CHANGE)
        operation = workbench.instance_patch(
            notebook=notebook,
            update_mask=request.query_params.get("updateMask"),
            body=request.data,
            console_url=self.console_url(),
        )
        return self.operation(operation)

    def delete(self, request: Request, project: str, location: str, instance: str) -> Response:
        return self.act(project, location, instance, "delete")


class InstanceVerbApi(WorkbenchApi):
    """instances.start, stop and reset: `POST {name}:{verb}`."""

    verb = ""

    def post(self, request: Request, project: str, location: str, instance: str) -> Response:
        return self.act(project, location, instance, self.verb)


class InstanceStartApi(InstanceVerbApi):
    verb = "start"


class InstanceStopApi(InstanceVerbApi):
    verb = "stop"


class InstanceResetApi(InstanceVerbApi):
    verb = "reset"


class OperationListApi(WorkbenchApi):
    def get(self, request: Request, project: str, location: str) -> Response:
        obj, location = self.location(project, location)
        url = self.console_url()
        return self.paged(
            request,
            lambda filter_text: gcp_selectors.operations_list(
                project=obj, location=location, filter_text=filter_text
            ).select_related("project"),
            key="operations",
            to_json=lambda op: operation_json(workbench.operation_refresh(op, url)),
            scope=f"operations/{obj.pk}/{location}",
        )


class OperationApi(WorkbenchApi):
    def get(self, request: Request, project: str, location: str, operation: str) -> Response:
        return self.operation(self.operation_row(project, location, operation))

    def delete(self, request: Request, project: str, location: str, operation: str) -> Response:
        op = self.operation_row(project, location, operation, access=Access.CHANGE)
        gcp_services.operation_delete(operation=op)
        return Response({})


class OperationCancelApi(WorkbenchApi):
    def post(self, request: Request, project: str, location: str, operation: str) -> Response:
        op = self.operation_row(project, location, operation, access=Access.CHANGE)
        workbench.operation_cancel(operation=op, user=request.user, console_url=self.console_url())
        return Response({})
