"""Sign-in and API token pages (the console's other pages: mlplatform.console.urls)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from mlplatform.core import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/tokens/", views.tokens, name="tokens"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
]
