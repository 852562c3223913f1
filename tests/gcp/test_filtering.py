"""List filters (AIP-160) through a facade's list method: bounded, and label keys kept as keys."""

from __future__ import annotations

import pytest

from mlplatform.core.models import Role
from tests.factories import job_row


@pytest.fixture
def jobs_list(api, member, project):
    client = api(member(Role.VIEWER))

    def call(filter_text: str):
        return client.get("/v1/projects/team-a/jobs", {"filter": filter_text})

    return call


def _job_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(job["jobId"] for job in response.json().get("jobs", []))


@pytest.mark.parametrize(
    ("filter_text", "reason"),
    [
        ("(" * 2000 + "state=QUEUED" + ")" * 2000, "parentheses and NOTs"),
        ("NOT " * 2000 + "state=QUEUED", "parentheses and NOTs"),
        (" AND ".join(["state=QUEUED"] * 3000), "characters"),
        (" OR ".join(["state=QUEUED"] * 300), "comparisons"),
    ],
)
def test_filters_too_deep_or_too_long_are_invalid_argument(jobs_list, filter_text, reason):
    response = jobs_list(filter_text)

    error = response.json()["error"]
    assert (response.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
    assert reason in error["message"]
    assert error["details"][0]["fieldViolations"][0]["field"] == "filter"


def test_a_label_key_with_double_underscores_is_a_key_not_a_lookup(jobs_list, project):
    job_row(project, "nlp_job", labels={"team": "nlp"})
    job_row(project, "cv_job", labels={"team": "cv"})
    job_row(project, "odd_job", labels={"a__contains": "x"})

    assert _job_ids(jobs_list("labels.team__contains=nl")) == []
    assert _job_ids(jobs_list("labels.team__isnull=false")) == []
    assert _job_ids(jobs_list("labels.a__contains=x")) == ["odd_job"]
    assert _job_ids(jobs_list("labels.team=nlp")) == ["nlp_job"]
    assert _job_ids(jobs_list("labels.team!=nlp")) == ["cv_job"]
