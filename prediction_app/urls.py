from django.urls import path

from prediction_app import views

urlpatterns = [path("", views.model_list, name="prediction-models")]
