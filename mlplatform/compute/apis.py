"""Native REST API for workloads, queues and quotas with their use (`/api/projects/{p}/workloads/`,
`/api/.../queue/`, `/api/.../quotas/`).

Apps submit their workloads through services; this API lets admins and scripts see the queue,
and run a plain workload (a command on the platform's resources) directly.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlplatform.compute import selectors, services
from mlplatform.compute.models import Workload
from mlplatform.compute.spec import ExitCodeAction, SpecError, WorkloadKind, spec_from_dict
from mlplatform.core.apis import ProjectScopedApi
from mlplatform.core.errors import ApplicationError, ErrorCode
from mlplatform.core.models import Role
from mlplatform.core.streaming import streaming_response
from mlplatform.core.validators import DNS_LABEL, DNS_LABEL_MAX
from mlplatform.quotas import selectors as quota_selectors
from mlplatform.quotas import services as quota_services
from mlplatform.quotas.apis import QuotaInput

# --- input: strict, so that pod fields (securityContext, hostPath, ...) cannot slip through ---


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming them, instead of silently dropping them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise ValidationError({key: ["is not a field the platform accepts here."] for key in unknown})
        return super().to_internal_value(data)


_MIN = Decimal("0.001")


class ResourcesInput(StrictSerializer):
    flavor = serializers.CharField(max_length=63)
    gpus = serializers.IntegerField(min_value=0, default=0)
    cpu = serializers.DecimalField(max_digits=8, decimal_places=3, min_value=_MIN, default=Decimal(1))
    memory_gib = serializers.DecimalField(max_digits=10, decimal_places=3, min_value=_MIN, default=Decimal(2))


class VolumeInput(StrictSerializer):
    name = serializers.RegexField(DNS_LABEL, max_length=DNS_LABEL_MAX)
    mount_path = serializers.CharField(max_length=255)
    size_gib = serializers.IntegerField(min_value=0, default=0)
    persistent = serializers.BooleanField(default=False)


class ReplicaGroupInput(StrictSerializer):
    role = serializers.CharField(max_length=30)
    count = serializers.IntegerField(min_value=1, max_value=1000, default=1)
    image = serializers.CharField(max_length=500)
    command = serializers.ListField(child=serializers.CharField(allow_blank=True), default=list)
    args = serializers.ListField(child=serializers.CharField(allow_blank=True), default=list)
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), default=dict)
    resources = ResourcesInput()
    ports = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=65535), default=list)
    volumes = VolumeInput(many=True, default=list)
    readiness_path = serializers.CharField(max_length=255, required=False, allow_null=True, default=None)
    max_count = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)


class ExitCodeRuleInput(StrictSerializer):
    action = serializers.ChoiceField(choices=[a.value for a in ExitCodeAction])
    exit_codes = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=255), min_length=1
    )


class FailurePolicyInput(StrictSerializer):
    backoff_limit = serializers.IntegerField(min_value=0, max_value=100, default=0)
    rules = ExitCodeRuleInput(many=True, default=list)
    max_run_seconds = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    ttl_after_finished_seconds = serializers.IntegerField(min_value=0, required=False, default=3600)


class SpecInput(StrictSerializer):
    name = serializers.CharField(max_length=63)
    kind = serializers.ChoiceField(choices=[k.value for k in WorkloadKind])
    groups = serializers.ListField(child=ReplicaGroupInput(), min_length=1)
    failure_policy = FailurePolicyInput(required=False)
    storage = serializers.ListField(
        child=serializers.CharField(max_length=63), required=False, allow_null=True, default=None
    )


class WorkloadInput(StrictSerializer):
    spec = SpecInput()
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, default=0)
    max_wait_seconds = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)


# --- output -----------------------------------------------------------------------------------


class RequestOutput(serializers.Serializer):
    flavor = serializers.CharField(source="flavor.name")
    gpus = serializers.IntegerField()
    cpu = serializers.DecimalField(max_digits=10, decimal_places=3)
    memory_gib = serializers.DecimalField(max_digits=12, decimal_places=3)


class EventOutput(serializers.Serializer):
    time = serializers.DateTimeField()
    previous = serializers.CharField()
    state = serializers.CharField()
    actor = serializers.CharField(
        source="actor.username", default=None, help_text="Who asked for a cancel; null: the platform"
    )
    reason = serializers.CharField()


class CostOutput(serializers.Serializer):
    """One shape wherever a cost is reported (a workload's, a project's, one flavor's)."""

    amount = serializers.DecimalField(
        max_digits=None, decimal_places=2, source="cents", allow_null=True,
        help_text="at the flavors' hourly prices, rounded to cents; null: no flavor it used has a price set",
    )  # fmt: skip
    currency = serializers.CharField(help_text="ISO 4217 code of the prices (the PRICE_CURRENCY setting)")
    unpriced_flavors = serializers.ListField(
        child=serializers.CharField(), source="unpriced",
        help_text="flavors it used that have no price set: they count for nothing in `amount`",
    )  # fmt: skip


class WorkloadOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", default=None, allow_null=True)
    project = serializers.CharField(source="project.slug")
    requests = RequestOutput(many=True)
    queue_position = serializers.IntegerField(allow_null=True, read_only=True)
    cost = serializers.SerializerMethodField(
        help_text="per request, GPUs (vCPUs for a CPU-only flavor) x its flavor's hourly price x the hours "
        "it ran, so far while it runs; a group's is its members'"
    )

    @extend_schema_field(CostOutput)
    def get_cost(self, workload: Workload) -> dict:
        costs = self.context.get("costs")  # a list's, read at once (selectors.workload_costs)
        return CostOutput(
            costs[workload.id] if costs is not None else selectors.workload_cost(workload=workload)
        ).data

    class Meta:
        model = Workload
        fields = [
            "id",
            "project",
            "name",
            "kind",
            "owner",
            "priority",
            "state",
            "reason",
            "queue_position",
            "backend",
            "requests",
            "replicas",
            "evictions",
            "gpu_hours",
            "cost",
            "max_wait_seconds",
            "created_at",
            "admitted_at",
            "started_at",
            "finished_at",
        ]


class WorkloadDetailOutput(WorkloadOutput):
    events = EventOutput(many=True)

    class Meta(WorkloadOutput.Meta):
        fields = [*WorkloadOutput.Meta.fields, "spec", "events"]


class AmountsOutput(serializers.Serializer):
    gpus = serializers.IntegerField()
    cpu = serializers.DecimalField(max_digits=12, decimal_places=3)
    memory_gib = serializers.DecimalField(max_digits=12, decimal_places=3)


class LimitsOutput(serializers.Serializer):
    gpus = serializers.IntegerField(allow_null=True, help_text="null: no limit")
    cpu = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True)
    memory_gib = serializers.DecimalField(max_digits=12, decimal_places=3, allow_null=True)


class QuotaOutput(serializers.Serializer):
    """One shape wherever quota and its use are reported (the quotas and the queue APIs)."""

    project = serializers.CharField()
    flavor = serializers.CharField(source="flavor.name")
    cohort = serializers.CharField(allow_null=True)
    nominal = AmountsOutput()
    used = AmountsOutput()
    borrowed = AmountsOutput(help_text="what it uses above its nominal quota")
    free = AmountsOutput(
        help_text="the most one more workload could be admitted with now, borrowing included"
    )
    borrowable = AmountsOutput(help_text="the part of `free` above what is left of its own quota")
    cohort_can_lend = AmountsOutput(help_text="what the rest of its cohort could lend it now")
    borrowing_limit = LimitsOutput()
    lending_limit = LimitsOutput()


class FlavorCostOutput(serializers.Serializer):
    flavor = serializers.CharField(source="flavor.name")
    unit = serializers.CharField(
        help_text="what the price is per hour of: GPU, or vCPU for a CPU-only flavor"
    )
    hours = serializers.DecimalField(
        max_digits=None, decimal_places=4, help_text="GPU-hours (vCPU-hours for a CPU-only flavor) used"
    )
    hourly_price = serializers.DecimalField(
        max_digits=10, decimal_places=2, source="flavor.hourly_price", help_text="0: no price set"
    )
    cost = CostOutput()


class ProjectCostOutput(serializers.Serializer):
    since = serializers.DateTimeField(help_text="the window's start; it ends now")
    total = CostOutput()
    flavors = FlavorCostOutput(many=True, help_text="GPU flavors first")


class QueueOutput(serializers.Serializer):
    running = WorkloadOutput(many=True)
    pending = WorkloadOutput(many=True)
    quotas = QuotaOutput(many=True)
    gpu_hours_30_days = serializers.DecimalField(max_digits=14, decimal_places=4, required=False)
    cost_30_days = ProjectCostOutput(
        required=False,
        help_text="what the workloads that ended in the last 30 days or run now cost, each for its time "
        "within them, per flavor",
    )


class ReplicaUsageOutput(serializers.Serializer):
    role = serializers.CharField()
    index = serializers.IntegerField()
    cpu_cores = serializers.FloatField(allow_null=True, help_text="Cores busy; null: not measured.")
    memory_bytes = serializers.IntegerField(allow_null=True, help_text="Resident memory; null: not measured.")
    gpu_percent = serializers.FloatField(allow_null=True, help_text="Null: not measured (or no GPU).")
    gpu_memory_bytes = serializers.IntegerField(allow_null=True, help_text="Null: not measured (or no GPU).")


class UtilisationOutput(serializers.Serializer):
    replicas = ReplicaUsageOutput(many=True, help_text="The replicas running now.")
    error = serializers.CharField(help_text="Why nothing was measured this time, if so.")


class UsageHistoryOutput(serializers.Serializer):
    period = serializers.CharField()
    sampled = serializers.BooleanField(help_text="False: no sample in the period (the sampler did not run).")
    labels = serializers.ListField(child=serializers.CharField(), help_text="Each point's time, local.")
    queued = serializers.ListField(child=serializers.IntegerField(allow_null=True))
    gpus_in_use = serializers.ListField(child=serializers.IntegerField(allow_null=True))
    cpus_in_use = serializers.ListField(child=serializers.FloatField(allow_null=True))


# --- views ------------------------------------------------------------------------------------


class ProjectApi(ProjectScopedApi):
    def workload(self, slug: str, workload_id, needs: Role = Role.VIEWER) -> Workload:
        workload = selectors.workload_get(project=self.project(slug, needs), workload_id=workload_id)
        if workload is None:
            raise ApplicationError(f"Workload '{workload_id}' was not found.", code=ErrorCode.NOT_FOUND)
        return workload


STATE_PARAM = OpenApiParameter("state", str, many=True, enum=[s.value for s in Workload.State])


class WorkloadListApi(ProjectApi):
    @extend_schema(
        parameters=[STATE_PARAM], responses=WorkloadOutput(many=True), summary="The project's workloads"
    )
    def get(self, request: Request, project: str) -> Response:
        states = request.query_params.getlist("state")
        unknown = [s for s in states if s not in Workload.State.values]
        if unknown:
            raise ApplicationError(f"'{unknown[0]}' is not a workload state.", field="state")
        workloads = selectors.with_queue_positions(
            selectors.workloads_list(project=self.project(project), states=states)[:500]
        )
        costs = selectors.workload_costs(workloads)
        return Response(WorkloadOutput(workloads, many=True, context={"costs": costs}).data)

    @extend_schema(request=WorkloadInput, responses={201: WorkloadDetailOutput}, summary="Queue a workload")
    def post(self, request: Request, project: str) -> Response:
        obj = self.project(project, Role.EDITOR)
        serializer = WorkloadInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            spec = spec_from_dict(serializer.data["spec"])
        except SpecError as exc:
            raise ApplicationError(exc.message, field=f"spec.{exc.field}") from None
        workload = services.workload_submit(
            project=obj,
            spec=spec,
            owner=request.user,
            priority=data["priority"],
            max_wait_seconds=data.get("max_wait_seconds"),
        )
        return Response(WorkloadDetailOutput(workload).data, status=status.HTTP_201_CREATED)


class WorkloadDetailApi(ProjectApi):
    @extend_schema(responses=WorkloadDetailOutput, summary="A workload with its spec and events")
    def get(self, request: Request, project: str, workload: str) -> Response:
        return Response(WorkloadDetailOutput(self.workload(project, workload)).data)


class WorkloadCancelApi(ProjectApi):
    @extend_schema(request=None, responses=WorkloadDetailOutput, summary="Cancel a workload")
    def post(self, request: Request, project: str, workload: str) -> Response:
        obj = self.workload(project, workload, Role.EDITOR)
        return Response(WorkloadDetailOutput(services.workload_cancel(workload=obj, actor=request.user)).data)


class WorkloadLogsApi(ProjectApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("role", str, description="the replica group; default the first"),
            OpenApiParameter("index", int, description="the replica's index in its group; default 0"),
            OpenApiParameter("tail", int, description="only the last N lines"),
            OpenApiParameter("follow", bool, description="keep streaming until the replica ends"),
        ],
        responses={(200, "text/plain"): OpenApiTypes.STR},
        summary="A replica's log, streamed",
    )
    def get(self, request: Request, project: str, workload: str):
        obj = self.workload(project, workload)
        params = request.query_params
        lines = selectors.workload_logs(
            workload=obj,
            role=params.get("role") or None,
            index=_int_param(params, "index", 0),
            tail=_int_param(params, "tail", None),
            follow=params.get("follow", "").lower() in ("1", "true", "yes"),
        )
        response = streaming_response(
            request._request, (line + "\n" for line in lines), content_type="text/plain; charset=utf-8"
        )
        response["X-Accel-Buffering"] = "no"
        return response


class WorkloadUtilisationApi(ProjectApi):
    @extend_schema(responses=UtilisationOutput, summary="CPU, memory and GPU use of its running replicas now")
    def get(self, request: Request, project: str, workload: str) -> Response:
        utilisation = selectors.workload_utilisation(workload=self.workload(project, workload))
        return Response(UtilisationOutput(utilisation).data)


class UsageHistoryApi(ProjectApi):
    @extend_schema(
        parameters=[OpenApiParameter("period", str, enum=list(selectors.USAGE_PERIODS), default="24h")],
        responses=UsageHistoryOutput,
        summary="Queue length and GPUs in use over time (a point a minute, or each hour's peak)",
    )
    def get(self, request: Request, project: str) -> Response:
        period = request.query_params.get("period") or "24h"
        history = selectors.usage_history(project=self.project(project), period=period)
        return Response(UsageHistoryOutput(history).data)


class QueueApi(ProjectApi):
    @extend_schema(responses=QueueOutput, summary="Running and pending workloads, and quota use")
    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        board = selectors.queue(project=obj)
        board["quotas"] = selectors.quota_board(projects=[obj])
        board["gpu_hours_30_days"] = selectors.gpu_hours(project=obj)
        board["cost_30_days"] = selectors.project_cost(project=obj)
        return Response(QueueOutput(board, context=_queue_costs(board)).data)


class QuotaListApi(ProjectApi):
    @extend_schema(
        responses=QuotaOutput(many=True), summary="The project's quotas, what it uses and may take"
    )
    def get(self, request: Request, project: str) -> Response:
        return Response(QuotaOutput(selectors.quota_board(projects=[self.project(project)]), many=True).data)


class QuotaDetailApi(APIView):
    @extend_schema(
        request=QuotaInput, responses=QuotaOutput, summary="Set the project's quota for a flavor (staff)"
    )
    def put(self, request: Request, project: str, flavor: str) -> Response:
        obj = quota_selectors.project_for_quota_change(slug=project, user=request.user)
        serializer = QuotaInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        cohort = values.pop("cohort", None)
        quota = quota_services.quota_set(project=obj, flavor_name=flavor, cohort_name=cohort, **values)
        return Response(QuotaOutput(selectors.quota_standing(project=obj, flavor=quota.flavor.name)).data)


class AdminQueueApi(APIView):
    @extend_schema(responses=QueueOutput, summary="Every project's queue (platform staff)")
    def get(self, request: Request) -> Response:
        if not request.user.is_staff:
            raise ApplicationError("Only platform staff see every queue.", code=ErrorCode.PERMISSION_DENIED)
        board = selectors.queue()
        board["quotas"] = selectors.quota_board()
        return Response(QueueOutput(board, context=_queue_costs(board)).data)


def _queue_costs(board: dict) -> dict:
    """The serializer context with the costs of a queue's workloads, read at once."""
    return {"costs": selectors.workload_costs([*board["running"], *board["pending"]])}


def _int_param(params, name: str, default):
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApplicationError(f"'{value}' is not a whole number.", field=name) from None
    if number < 0:
        raise ApplicationError("must not be negative.", field=name)
    return number
