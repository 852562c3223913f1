from django.urls import path

from training_app import apis

urlpatterns = [
    path("projects/<rid:project>/jobs", apis.JobListApi.as_view()),
    path("projects/<rid:project>/jobs/<rid:job_id>:cancel", apis.JobCancelApi.as_view()),
    path("projects/<rid:project>/jobs/<rid:job_id>", apis.JobDetailApi.as_view()),
]
