from django.urls import path

from prediction_app import apis

model = "projects/<str:project>/models/<str:model>"
version = f"{model}/versions/<str:version>"
urlpatterns = [
    path("projects/<str:project>/models/", apis.ModelListApi.as_view(), name="api-models"),
    path(f"{model}/", apis.ModelDetailApi.as_view(), name="api-model"),
    path(f"{model}/versions/", apis.VersionListApi.as_view(), name="api-versions"),
    path(f"{version}/", apis.VersionDetailApi.as_view(), name="api-version"),
    path(f"{version}/default/", apis.VersionDefaultApi.as_view(), name="api-version-default"),
    path(f"{version}/predict/", apis.VersionPredictApi.as_view(), name="api-version-predict"),
]
