from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mlplatform.core.views import project_for_view


@login_required
def notebook_list(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    return render(request, "notebooks/notebook_list.html", {"project": obj})
