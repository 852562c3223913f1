"""The `projects.jobs` methods of the `ml v1` facade."""

from __future__ import annotations

import base64
import hashlib

from rest_framework.request import Request
from rest_framework.response import Response

from mlplatform.gcp.proto import timestamp
from mlplatform.gcp.views import GoogleApiView
from training_app.models import Job
from training_app.selectors import jobs_list


def job_json(job: Job) -> dict:
    body = {
        "jobId": job.job_id,
        "trainingInput": job.training_input,
        "createTime": timestamp(job.create_time),
        "startTime": timestamp(job.start_time),
        "endTime": timestamp(job.end_time),
        "state": job.state,
        "errorMessage": job.error_message,
        "labels": job.labels,
        # Changes whenever the job does: read-modify-write clients send it back.
        "etag": base64.b64encode(
            hashlib.sha256(f"{job.pk}:{job.update_time.isoformat()}".encode()).digest()[:12]
        ).decode(),
    }
    return {key: value for key, value in body.items() if value not in (None, "", {})}


class JobListApi(GoogleApiView):
    """projects.jobs.list, with `filter`, `pageSize` and `pageToken`."""

    def get(self, request: Request, project: str) -> Response:
        obj = self.project(project)
        return self.paged(
            request,
            lambda filter_text: jobs_list(project=obj, filter_text=filter_text),
            key="jobs",
            to_json=job_json,
            scope=str(obj.pk),
        )
