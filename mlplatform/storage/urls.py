from django.urls import path

from mlplatform.storage import views

urlpatterns = [
    path("", views.storage, name="storage"),
    path("browse/", views.browse, name="storage-browse"),
    path("objects/delete/", views.object_delete, name="storage-object-delete"),
    path("folders/", views.folder_create, name="storage-folder-create"),
    path("connections/<str:name>/test/", views.connection_test, name="storage-connection-test"),
    path("connections/<str:name>/delete/", views.connection_delete, name="storage-connection-delete"),
]
