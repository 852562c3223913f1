from django.urls import path

from training_app import apis

urlpatterns = [
    path("projects/<rid:project>/jobs", apis.JobListApi.as_view()),
]
