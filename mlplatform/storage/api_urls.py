from django.urls import path

from mlplatform.storage import apis

prefix = "projects/<str:project>/storage"
urlpatterns = [
    path(f"{prefix}/connections/", apis.ConnectionListApi.as_view(), name="api-storage-connections"),
    path(
        f"{prefix}/connections/<str:name>/", apis.ConnectionDetailApi.as_view(), name="api-storage-connection"
    ),
    path(f"{prefix}/connections/<str:name>/test/", apis.ConnectionTestApi.as_view(), name="api-storage-test"),
    path(f"{prefix}/objects", apis.ObjectsApi.as_view(), name="api-storage-objects"),
    path(f"{prefix}/objects/content", apis.ObjectContentApi.as_view(), name="api-storage-content"),
    path(f"{prefix}/folders", apis.FolderApi.as_view(), name="api-storage-folders"),
]
