"""Native REST API for MPI jobs (`/api/projects/{p}/distributed-jobs/`): members read; editors
and admins create and cancel."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from distributed_app import selectors, services
from distributed_app.inputs import MAX_WORKERS, MpiImplementation
from distributed_app.models import DistributedJob
from mlplatform.core.apis import ProjectScopedApi
from mlplatform.core.models import Role


class DistributedJobInput(serializers.Serializer):
    """For the OpenAPI document: inputs.request_from_json checks the body and names bad fields."""

    name = serializers.CharField(max_length=40)
    image = serializers.CharField(required=False, help_text="Every replica's image; mpirun in it")
    command = serializers.ListField(
        child=serializers.CharField(), min_length=1, help_text="What every rank runs"
    )
    workers = serializers.IntegerField(min_value=1, max_value=MAX_WORKERS)
    slots_per_worker = serializers.IntegerField(min_value=1, default=1, help_text="Ranks (GPUs) per worker")
    flavor = serializers.CharField(default="cpu")
    mpi_implementation = serializers.ChoiceField(
        choices=[m.value for m in MpiImplementation], default="openmpi"
    )
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    backoff_limit = serializers.IntegerField(min_value=0, max_value=10, default=0)
    max_run_seconds = serializers.IntegerField(min_value=1, required=False)
    ttl_seconds_after_finished = serializers.IntegerField(min_value=0, default=3600)


class DistributedJobOutput(serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug")
    state = serializers.ChoiceField(choices=DistributedJob.State.choices)
    error_message = serializers.CharField()
    workload = serializers.UUIDField(source="workload_id")
    start_time = serializers.DateTimeField(source="workload.started_at", allow_null=True)
    end_time = serializers.DateTimeField(source="workload.finished_at", allow_null=True)

    class Meta:
        model = DistributedJob
        fields = [
            "name",
            "project",
            "state",
            "error_message",
            "input",
            "workload",
            "created_at",
            "start_time",
            "end_time",
        ]


class DistributedJobListApi(ProjectScopedApi):
    @extend_schema(responses=DistributedJobOutput(many=True), summary="The project's MPI jobs")
    def get(self, request: Request, project: str) -> Response:
        jobs = selectors.distributed_jobs_list(project=self.project(project))
        return Response(DistributedJobOutput(jobs, many=True).data)

    @extend_schema(
        request=DistributedJobInput, responses={201: DistributedJobOutput}, summary="Queue an MPI job"
    )
    def post(self, request: Request, project: str) -> Response:
        obj = self.project(project, Role.EDITOR)
        job = services.distributed_job_create(project=obj, body=request.data, user=request.user)
        return Response(DistributedJobOutput(job).data, status=status.HTTP_201_CREATED)


class DistributedJobDetailApi(ProjectScopedApi):
    @extend_schema(responses=DistributedJobOutput, summary="An MPI job")
    def get(self, request: Request, project: str, name: str) -> Response:
        job = selectors.distributed_job_get(project=self.project(project), name=name)
        return Response(DistributedJobOutput(job).data)


class DistributedJobCancelApi(ProjectScopedApi):
    @extend_schema(request=None, responses=DistributedJobOutput, summary="Cancel an MPI job")
    def post(self, request: Request, project: str, name: str) -> Response:
        job = selectors.distributed_job_get(project=self.project(project, Role.EDITOR), name=name)
        return Response(
            DistributedJobOutput(services.distributed_job_cancel(job=job, user=request.user)).data
        )
