"""Routes of the `notebooks v2` facade (`/v2/projects/{project}/locations/...`)."""

from django.urls import path

from mlplatform.gcp import urlconverters  # noqa: F401  registers <rid:...>
from notebooks_app import gcp_apis

location = "projects/<rid:project>/locations/<rid:location>"
instance = f"{location}/instances/<rid:instance>"
urlpatterns = [
    path("projects/<rid:project>/locations", gcp_apis.LocationListApi.as_view()),
    path(location, gcp_apis.LocationApi.as_view()),
    path(f"{location}/instances", gcp_apis.InstanceListApi.as_view()),
    path(instance, gcp_apis.InstanceApi.as_view()),
    path(f"{instance}:start", gcp_apis.InstanceStartApi.as_view()),
    path(f"{instance}:stop", gcp_apis.InstanceStopApi.as_view()),
    path(f"{instance}:reset", gcp_apis.InstanceResetApi.as_view()),
    path(f"{location}/operations", gcp_apis.OperationListApi.as_view()),
    path(f"{location}/operations/<rid:operation>", gcp_apis.OperationApi.as_view()),
    path(f"{location}/operations/<rid:operation>:cancel", gcp_apis.OperationCancelApi.as_view()),
]
