from django.urls import path

from mlplatform.quotas import apis

urlpatterns = [
    path("flavors/", apis.FlavorListApi.as_view(), name="api-flavors"),
    path("projects/<str:project>/quotas/", apis.QuotaListApi.as_view(), name="api-quotas"),
    path("projects/<str:project>/quotas/<str:flavor>/", apis.QuotaDetailApi.as_view(), name="api-quota"),
]
