from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mlplatform.core.views import project_for_view
from training_app.selectors import jobs_list


@login_required
def job_list(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    jobs = jobs_list(project=obj)[:200]
    return render(request, "training/job_list.html", {"project": obj, "jobs": jobs})
