"""Routes of the `ml v1` facade's project-level methods (`/v1/projects/{project}...`)."""

from django.urls import path

from mlplatform.gcp import (
    urlconverters,  # noqa: F401  registers <rid:...>
    views,
)

urlpatterns = [
    path("projects/<rid:project>:getConfig", views.ProjectConfigApi.as_view()),
    path("projects/<rid:project>/locations", views.LocationListApi.as_view()),
    path("projects/<rid:project>/locations/<rid:location>", views.LocationApi.as_view()),
    path("projects/<rid:project>/operations", views.OperationListApi.as_view()),
    path("projects/<rid:project>/operations/<rid:operation>", views.OperationApi.as_view()),
    path("projects/<rid:project>/operations/<rid:operation>:cancel", views.OperationCancelApi.as_view()),
    path(
        "projects/<rid:project>/locations/<rid:location>/operations/<rid:operation>",
        views.OperationApi.as_view(),
    ),
    path(
        "projects/<rid:project>/locations/<rid:location>/operations/<rid:operation>:cancel",
        views.OperationCancelApi.as_view(),
    ),
]
