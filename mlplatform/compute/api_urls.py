from django.urls import path

from mlplatform.compute import apis

prefix = "projects/<str:project>"
urlpatterns = [
    path(f"{prefix}/workloads/", apis.WorkloadListApi.as_view(), name="api-workloads"),
    path(f"{prefix}/workloads/<uuid:workload>/", apis.WorkloadDetailApi.as_view(), name="api-workload"),
    path(
        f"{prefix}/workloads/<uuid:workload>/cancel/",
        apis.WorkloadCancelApi.as_view(),
        name="api-workload-cancel",
    ),
    path(
        f"{prefix}/workloads/<uuid:workload>/logs/", apis.WorkloadLogsApi.as_view(), name="api-workload-logs"
    ),
    path(
        f"{prefix}/workloads/<uuid:workload>/utilisation/",
        apis.WorkloadUtilisationApi.as_view(),
        name="api-workload-utilisation",
    ),
    path(f"{prefix}/queue/", apis.QueueApi.as_view(), name="api-queue"),
    path(f"{prefix}/usage/", apis.UsageHistoryApi.as_view(), name="api-usage-history"),
    path(f"{prefix}/quotas/", apis.QuotaListApi.as_view(), name="api-quotas"),
    path(f"{prefix}/quotas/<str:flavor>/", apis.QuotaDetailApi.as_view(), name="api-quota"),
    path("queue/", apis.AdminQueueApi.as_view(), name="api-admin-queue"),
]
