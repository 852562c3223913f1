"""Native REST API for the GPU catalog and project quotas."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlplatform.core.selectors import project_get_for_user
from mlplatform.quotas import selectors, services
from mlplatform.quotas.models import Flavor


class FlavorOutput(serializers.ModelSerializer):
    accelerator_types = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = Flavor
        fields = [
            "name",
            "display_name",
            "resource_name",
            "gpu_memory_gib",
            "cpu_per_gpu",
            "memory_gib_per_gpu",
            "hourly_price",
            "accelerator_types",
        ]


class ResourcesOutput(serializers.Serializer):
    gpus = serializers.IntegerField()
    cpu = serializers.DecimalField(max_digits=10, decimal_places=2)
    memory_gib = serializers.DecimalField(max_digits=10, decimal_places=2)


class QuotaOutput(serializers.Serializer):
    flavor = serializers.CharField(source="flavor.name")
    cohort = serializers.CharField(source="quota.cohort.name", default=None)
    nominal = ResourcesOutput()
    used = ResourcesOutput()
    gpu_borrowing_limit = serializers.IntegerField(source="quota.gpu_borrowing_limit")
    gpu_lending_limit = serializers.IntegerField(source="quota.gpu_lending_limit")


_decimal = {"max_digits": 10, "decimal_places": 2, "min_value": 0, "required": False}
_limit = {"required": False, "allow_null": True, "min_value": 0}


class QuotaInput(serializers.Serializer):
    nominal_gpus = serializers.IntegerField(min_value=0, required=False)
    nominal_cpu = serializers.DecimalField(**_decimal)
    nominal_memory_gib = serializers.DecimalField(**_decimal)
    cohort = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    gpu_borrowing_limit = serializers.IntegerField(**_limit)
    gpu_lending_limit = serializers.IntegerField(**_limit)
    cpu_borrowing_limit = serializers.DecimalField(max_digits=10, decimal_places=2, **_limit)
    cpu_lending_limit = serializers.DecimalField(max_digits=10, decimal_places=2, **_limit)
    memory_borrowing_limit_gib = serializers.DecimalField(max_digits=10, decimal_places=2, **_limit)
    memory_lending_limit_gib = serializers.DecimalField(max_digits=10, decimal_places=2, **_limit)


class FlavorListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=FlavorOutput(many=True), summary="The GPU catalog")
    def get(self, request: Request) -> Response:
        return Response(FlavorOutput(selectors.flavors_list(), many=True).data)


class QuotaListApi(APIView):
    @extend_schema(responses=QuotaOutput(many=True), summary="The project's quotas and what it uses")
    def get(self, request: Request, project: str) -> Response:
        obj, _ = project_get_for_user(slug=project, user=request.user)
        return Response(QuotaOutput(selectors.quota_usage(obj), many=True).data)


class QuotaDetailApi(APIView):
    @extend_schema(
        request=QuotaInput, responses=QuotaOutput, summary="Set the project's quota for a flavor (staff)"
    )
    def put(self, request: Request, project: str, flavor: str) -> Response:
        obj = selectors.project_for_quota_change(slug=project, user=request.user)
        serializer = QuotaInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        cohort = values.pop("cohort", None)
        quota = services.quota_set(project=obj, flavor_name=flavor, cohort_name=cohort, **values)
        usage = next(row for row in selectors.quota_usage(obj) if row.quota.pk == quota.pk)
        return Response(QuotaOutput(usage).data)
