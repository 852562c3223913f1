from django.urls import path

from distributed_app import apis

prefix = "projects/<str:project>/distributed-jobs"
urlpatterns = [
    path(f"{prefix}/", apis.DistributedJobListApi.as_view(), name="api-distributed-jobs"),
    path(f"{prefix}/<str:name>/", apis.DistributedJobDetailApi.as_view(), name="api-distributed-job"),
    path(
        f"{prefix}/<str:name>/cancel/",
        apis.DistributedJobCancelApi.as_view(),
        name="api-distributed-job-cancel",
    ),
]
