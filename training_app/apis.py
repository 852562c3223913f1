"""The `ml v1` `projects.jobs` resource, for jobs of every kind: create, get, list, cancel, and
patch of labels. A job answers with its kind's input and output fields (training_app.jobs)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from mlplatform.compute.selectors import with_queue_positions
from mlplatform.core.errors import ApplicationError
from mlplatform.core.models import Role
from mlplatform.gcp.proto import timestamp
from mlplatform.gcp.views import GoogleApiView
from training_app import services
from training_app.jobs import job_kind
from training_app.models import Job
from training_app.selectors import job_get, job_tuning_spec, jobs_list, tuning_output


def job_json(job: Job) -> dict:
    workload = job.workload
    kind = job_kind(job.kind)
    body = {
        "jobId": job.job_id,
        kind.input_field: job.input,
        "createTime": timestamp(job.create_time),
        "startTime": timestamp(job.start_time),
        "endTime": timestamp(job.end_time),
        "state": job.state,
        "errorMessage": job.error_message,
        "labels": job.labels,
        "etag": services.job_etag(job),
        kind.output_field: kind.output(job),
    }
    position = getattr(workload, "queue_position", None)
    if job.state == Job.State.QUEUED and position:
        body["jobPosition"] = str(position)  # int64 travels as a string in JSON
    return {key: value for key, value in body.items() if value not in (None, "", {})}


def training_output(job: Job) -> dict:
    """trainingOutput: one ML unit is one GPU-hour here (CPU-only jobs consume none); a tuning
    job's also says each trial and the metric, over all its trials' units."""
    spec = job_tuning_spec(job)
    if spec is not None:
        return tuning_output(job, spec)
    return {"consumedMLUnits": float(job.workload.gpu_hours)}


class JobListApi(GoogleApiView):
    """projects.jobs.list (`filter`, `pageSize`, `pageToken`) and projects.jobs.create."""

    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        return self.paged(
            request,
            lambda filter_text: jobs_list(project=obj, filter_text=filter_text),
            key="jobs",
            to_json=job_json,
            scope=str(obj.pk),
            prepare=lambda jobs: with_queue_positions(job.workload for job in jobs),
        )

    def post(self, request: Request, project: str) -> Response:
        obj = self.project(project, needs=Role.EDITOR)
        job = services.job_create(project=obj, body=request.data, user=request.user)
        return Response(job_json(job_get(project=obj, job_id=job.job_id)))


class JobDetailApi(GoogleApiView):
    """projects.jobs.get and projects.jobs.patch (labels only, as AI Platform)."""

    def get(self, request: Request, project: str, job_id: str) -> Response:
        return Response(job_json(job_get(project=self.project(project), job_id=job_id)))

    def patch(self, request: Request, project: str, job_id: str) -> Response:
        job = job_get(project=self.project(project, needs=Role.EDITOR), job_id=job_id)
        if not isinstance(request.data, dict):
            raise ApplicationError("The request body must be a Job object.", field="job")
        job = services.job_patch(
            job=job, body=request.data, update_mask=request.query_params.get("updateMask", "")
        )
        return Response(job_json(job))


class JobCancelApi(GoogleApiView):
    """projects.jobs.cancel: answers Empty, as Google does."""

    def post(self, request: Request, project: str, job_id: str) -> Response:
        job = job_get(project=self.project(project, needs=Role.EDITOR), job_id=job_id)
        services.job_cancel(job=job, user=request.user)
        return Response({})
