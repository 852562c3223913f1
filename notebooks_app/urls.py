from django.urls import path

from notebooks_app import views

urlpatterns = [path("", views.notebook_list, name="notebooks")]
