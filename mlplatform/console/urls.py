"""The console's pages, one include per app; sign-in and tokens are core's."""

from django.urls import include, path

from mlplatform.compute import views as compute_views
from mlplatform.console import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("", include("mlplatform.core.urls")),
    path("projects/<str:project>/", views.project_dashboard, name="project-dashboard"),
    path("projects/<str:project>/storage/", include("mlplatform.storage.urls")),
    path("projects/<str:project>/queue/", include("mlplatform.compute.urls")),
    path("queue/", compute_views.admin_queue, name="admin-queue"),
    path("projects/<str:project>/notebooks/", include("notebooks_app.urls")),
    path("projects/<str:project>/training/", include("training_app.urls")),
    path("projects/<str:project>/prediction/", include("prediction_app.urls")),
    path("projects/<str:project>/distributed/", include("distributed_app.urls")),
]
