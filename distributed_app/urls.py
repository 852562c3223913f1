from django.urls import path

from distributed_app import views

urlpatterns = [
    path("", views.job_list, name="distributed-jobs"),
    path("new/", views.job_new, name="distributed-job-new"),
    path("<str:name>/", views.job_detail, name="distributed-job"),
    path("<str:name>/cancel/", views.job_cancel, name="distributed-job-cancel"),
]
