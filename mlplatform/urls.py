"""Routes: the console's pages, the native API (`/api/`), and the Google-compatible facades
served at the root (`/v1/...`), so that `googleapiclient` works with the console as endpoint."""

from django.contrib import admin
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mlplatform.core.health import healthz
from mlplatform.gcp.errors import google_not_found
from mlplatform.gcp.middleware import FACADE_PREFIXES

admin.site.site_header = "ML platform administration"
admin.site.site_title = "ML platform admin"
admin.site.index_title = "Projects, GPU catalog and quotas"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("mlplatform.core.api_urls")),
    path("api/", include("mlplatform.quotas.api_urls")),
    path("api/", include("mlplatform.storage.api_urls")),
    path("api/", include("mlplatform.compute.api_urls")),
    path("api/", include("notebooks_app.api_urls")),
    path("api/", include("prediction_app.api_urls")),
    path("api/", include("distributed_app.api_urls")),
    path("v1/", include("mlplatform.gcp.urls")),
    path("v1/", include("training_app.gcp_urls")),
    path("v1/", include("prediction_app.gcp_urls")),
    path("v2/", include("notebooks_app.gcp_urls")),
    path("", include("mlplatform.console.urls")),
]


def handler404(request, exception):
    if request.path.startswith(FACADE_PREFIXES):
        return google_not_found(request, exception)
    return defaults.page_not_found(request, exception)
