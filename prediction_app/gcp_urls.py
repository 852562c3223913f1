"""Routes of the `ml v1` models, versions and predict (`/v1/projects/{project}/models...`)."""

from django.urls import path

from mlplatform.gcp import urlconverters  # noqa: F401  registers <rid:...>
from prediction_app import gcp_apis

model = "projects/<rid:project>/models/<rid:model>"
version = f"{model}/versions/<rid:version>"
urlpatterns = [
    path("projects/<rid:project>/models", gcp_apis.ModelListApi.as_view()),
    path(model, gcp_apis.ModelApi.as_view()),
    path(f"{model}:predict", gcp_apis.PredictApi.as_view()),
    path(f"{model}/versions", gcp_apis.VersionListApi.as_view()),
    path(version, gcp_apis.VersionApi.as_view()),
    path(f"{version}:setDefault", gcp_apis.VersionSetDefaultApi.as_view()),
    path(f"{version}:predict", gcp_apis.PredictApi.as_view()),
]
