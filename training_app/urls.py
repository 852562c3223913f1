from django.urls import path

from training_app import views

urlpatterns = [
    path("", views.job_list, name="training-jobs"),
    path("new/", views.job_new, name="training-job-new"),
    path("<str:job_id>/", views.job_detail, name="training-job"),
    path("<str:job_id>/log/", views.job_log, name="training-job-log"),
    path("<str:job_id>/cancel/", views.job_cancel, name="training-job-cancel"),
]
