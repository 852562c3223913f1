"""A workload's page shows its replicas' logs with the tools its apps' pages share (search,
timestamps, wrapping) and serves a replica's whole log as a file, to whoever may see the workload."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mlplatform.compute import services
from mlplatform.compute.spec import spec_from_dict
from mlplatform.core.models import Role
from tests.factories import quota, replica_wrote


@pytest.fixture
def sweep(seeded_catalog, project, local_compute):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=16)
    group = {"role": "worker", "count": 2, "image": "python:3.11", "command": ["python", "train.py"]}
    spec = spec_from_dict({"name": "sweep", "kind": "batch", "groups": [group]})
    workload = services.workload_submit(project=project, spec=spec)
    replica_wrote(workload, "loading data\nstep 1 LOSS=0.9\nstep 2 loss=0.5\n", index=1)
    return workload


def test_the_workload_page_searches_a_replicas_log_and_links_its_whole_log(sweep, client, member):
    client.force_login(member(Role.VIEWER))
    page = client.get(f"{sweep.get_absolute_url()}?role=worker&index=1&q=loss").content.decode()

    download = reverse("workload-log", args=("team-a", sweep.id))
    assert "step 1 LOSS=0.9\nstep 2 loss=0.5\n</pre>" in page
    assert "loading data" not in page
    assert f'href="{download}?role=worker&index=1"' in page
    assert 'aria-label="Search the log"' in page
    assert 'id="log-wrap"' in page


def test_a_workloads_log_file_is_for_members_only(sweep, client, member, outsider):
    download = reverse("workload-log", args=("team-a", sweep.id)) + "?role=worker&index=1"
    client.force_login(member(Role.VIEWER))

    response = client.get(download)

    assert response["Content-Disposition"] == 'attachment; filename="sweep-worker-1.log"'
    assert b"".join(response.streaming_content) == b"loading data\nstep 1 LOSS=0.9\nstep 2 loss=0.5\n"
    client.force_login(outsider)
    assert client.get(download).status_code == 404
