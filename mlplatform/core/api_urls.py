from django.urls import path

from mlplatform.core import apis

urlpatterns = [
    path("projects/", apis.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<str:project>/", apis.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<str:project>/members/", apis.MemberListApi.as_view(), name="api-members"),
    path("projects/<str:project>/members/<str:username>/", apis.MemberDetailApi.as_view(), name="api-member"),
    path("tokens/", apis.TokenListApi.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", apis.TokenDetailApi.as_view(), name="api-token"),
]
