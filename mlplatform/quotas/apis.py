"""Native REST API for the GPU catalog, and the input of quota writes. Quotas are reported with
their usage, which is compute's (mlplatform.compute.apis serves /api/projects/{p}/quotas/)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlplatform.quotas import selectors
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
