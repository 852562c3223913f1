"""The console's pages."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from mlplatform.compute import views as compute_views
from mlplatform.core import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/tokens/", views.tokens, name="tokens"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("projects/<str:project>/", views.project_dashboard, name="project-dashboard"),
    path("projects/<str:project>/storage/", include("mlplatform.storage.urls")),
    path("projects/<str:project>/queue/", include("mlplatform.compute.urls")),
    path("queue/", compute_views.admin_queue, name="admin-queue"),
    path("projects/<str:project>/notebooks/", include("notebooks_app.urls")),
    path("projects/<str:project>/training/", include("training_app.urls")),
    path("projects/<str:project>/prediction/", include("prediction_app.urls")),
]
