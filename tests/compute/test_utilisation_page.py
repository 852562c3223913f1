"""The live utilisation panel of a workload's pages, on the local backend with a real busy process."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from mlplatform.compute import services
from mlplatform.compute.models import Workload
from mlplatform.compute.spec import spec_from_dict
from mlplatform.core.models import Role
from tests.compute.test_local_backend import wait_for
from tests.factories import quota

# Holds 100 MiB of touched (resident) memory, then spins a core.
BUSY = "b = bytearray(100 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\nwhile True: pass"


@pytest.fixture
def busy(seeded_catalog, project, local_compute) -> Workload:
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=16)
    spec = {
        "name": "busy",
        "kind": "batch",
        "groups": [{"role": "worker", "count": 1, "image": "python:3.11", "command": ["python", "-c", BUSY]}],
    }
    workload = services.workload_submit(project=project, spec=spec_from_dict(spec))
    services.admission_pass()
    return services.workload_start(workload_id=workload.id)


def panel_url(workload: Workload) -> str:
    return reverse("workload-utilisation", kwargs={"project": workload.project.slug, "workload": workload.id})


@pytest.mark.django_db(transaction=True)
def test_a_running_workloads_page_polls_a_panel_with_its_replicas_cpu_and_memory(
    busy, client, member, local_compute
):
    client.force_login(member(Role.VIEWER))
    page = client.get(busy.get_absolute_url()).content.decode()
    assert f'hx-get="{panel_url(busy)}"' in page  # asks for the panel as soon as it loads

    def measured():
        html = client.get(panel_url(busy)).content.decode()
        row = re.search(r'data-testid="usage-worker-0">(.*?)</tr>', html, re.S)
        memory = re.search(r"([\d.]+)\s+MB", row.group(1)) if row else None  # filesizeformat's MB: MiB
        if memory and float(memory.group(1)) >= 100:  # it has allocated
            return html, row.group(1), float(memory.group(1))
        return None

    html, row, memory = wait_for(measured, "the busy replica to be measured with what it allocated")

    assert 'hx-trigger="every 5s"' in html
    assert float(re.search(r"([\d.]+) cores", row).group(1)) > 0
    assert memory < 180  # what it allocated and the interpreter, not more
    assert "no GPU asked for" in row


@pytest.mark.django_db(transaction=True)
def test_a_queued_workload_says_it_is_measured_once_it_runs_and_outsiders_see_nothing(
    seeded_catalog, project, client, member, outsider
):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=16)
    spec = {"name": "waits", "kind": "batch", "groups": [{"role": "worker", "count": 1, "image": "x"}]}
    workload = services.workload_submit(project=project, spec=spec_from_dict(spec))  # no admission yet
    client.force_login(member(Role.VIEWER))

    assert "Measured once it runs: it is queued." in client.get(panel_url(workload)).content.decode()

    client.force_login(outsider)
    assert client.get(panel_url(workload)).status_code == 404
