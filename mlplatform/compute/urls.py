from django.urls import path

from mlplatform.compute import views

urlpatterns = [
    path("", views.queue, name="queue"),
    path("workloads/<uuid:workload>/", views.workload_detail, name="workload-detail"),
    path("workloads/<uuid:workload>/log/", views.workload_log, name="workload-log"),
    path("workloads/<uuid:workload>/utilisation/", views.workload_utilisation, name="workload-utilisation"),
    path("workloads/<uuid:workload>/cancel/", views.workload_cancel, name="workload-cancel"),
]
