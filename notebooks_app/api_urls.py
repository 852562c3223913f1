from django.urls import path

from notebooks_app import apis

prefix = "projects/<str:project>/notebooks"
urlpatterns = [
    path(f"{prefix}/", apis.NotebookListApi.as_view(), name="api-notebooks"),
    path(f"{prefix}/<str:name>/", apis.NotebookDetailApi.as_view(), name="api-notebook"),
    path(f"{prefix}/<str:name>/start/", apis.NotebookStartApi.as_view(), name="api-notebook-start"),
    path(f"{prefix}/<str:name>/stop/", apis.NotebookStopApi.as_view(), name="api-notebook-stop"),
    path("notebook-images/", apis.NotebookImageListApi.as_view(), name="api-notebook-images"),
]
