"""The dashboards: each project's quota, what it uses and may take now, what it cost, and its members."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mlplatform.compute.selectors import USAGE_PERIODS, project_cost, quota_board, usage_history
from mlplatform.core import selectors as core_selectors
from mlplatform.core.views import project_for_view


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    projects = list(core_selectors.projects_for_user(request.user))
    board: dict[str, list] = {}
    for row in quota_board(projects=projects):
        board.setdefault(row.project, []).append(row)
    overview = []
    for project in projects:
        rows = board.get(project.slug, [])
        gpu_rows = [row for row in rows if row.flavor.is_gpu]
        chart = {
            "labels": [row.flavor.title for row in gpu_rows],
            "used": [row.used.gpus for row in gpu_rows],
            "quota": [row.nominal.gpus for row in gpu_rows],
        }
        overview.append(
            {"project": project, "quotas": rows, "chart": chart, "chart_id": f"chart-{project.slug}"}
        )
    return render(request, "console/dashboard.html", {"overview": overview})


PERIOD_LABELS = {"24h": "24 hours", "7d": "7 days"}  # USAGE_PERIODS, as the overview names them


@login_required
def project_dashboard(request: HttpRequest, project: str) -> HttpResponse:
    obj = project_for_view(request, project)
    period = request.GET.get("period")
    period = period if period in USAGE_PERIODS else "24h"  # a page falls back; the API refuses
    context = {
        "project": obj,
        "quotas": quota_board(projects=[obj]),
        "cost": project_cost(project=obj),
        "members": core_selectors.project_members(obj),
        "role": core_selectors.project_role(obj, request.user),
        "usage": usage_history(project=obj, period=period),
        "periods": PERIOD_LABELS,
        "period_label": PERIOD_LABELS[period],
    }
    return render(request, "console/project_dashboard.html", context)
