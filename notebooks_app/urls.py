from django.urls import path

from notebooks_app import views

urlpatterns = [
    path("", views.notebook_list, name="notebooks"),
    path("new/", views.notebook_new, name="notebook-new"),
    path("<str:name>/", views.notebook_detail, name="notebook-detail"),
    path("<str:name>/start/", views.notebook_start, name="notebook-start"),
    path("<str:name>/stop/", views.notebook_stop, name="notebook-stop"),
    path("<str:name>/edit/", views.notebook_edit, name="notebook-edit"),
    path("<str:name>/delete/", views.notebook_delete, name="notebook-delete"),
]
