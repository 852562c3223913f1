from django.urls import path

from mlplatform.quotas import apis

urlpatterns = [
    path("flavors/", apis.FlavorListApi.as_view(), name="api-flavors"),
]
