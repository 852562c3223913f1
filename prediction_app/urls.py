from django.urls import path

from prediction_app import views

urlpatterns = [
    path("", views.model_list, name="prediction-models"),
    path("<str:model>/", views.model_detail, name="prediction-model"),
    path("<str:model>/new/", views.version_new, name="prediction-version-new"),
    path("<str:model>/<str:version>/", views.version_detail, name="prediction-version"),
    path("<str:model>/<str:version>/try/", views.version_try, name="prediction-version-try"),
    path(
        "<str:model>/<str:version>/default/",
        views.version_act,
        {"action": "default"},
        name="prediction-version-default",
    ),
    path(
        "<str:model>/<str:version>/delete/",
        views.version_act,
        {"action": "delete"},
        name="prediction-version-delete",
    ),
]
