"""On the local backend the notebook form offers only the GPUs this machine has, a notebook asking
for more is refused at submit, and one that failed anyway says so in words its page can keep."""

from __future__ import annotations

import pytest

from mlplatform.compute import services as compute
from mlplatform.compute.models import Workload
from mlplatform.core.models import Role
from notebooks_app import services, views
from notebooks_app.models import Notebook
from tests.factories import quota

NEW = "/projects/team-a/notebooks/new/"
A100 = {"name": "vision", "image": "pytorch-cuda", "flavor": "nvidia-a100-80gb", "gpus": "2"}


@pytest.fixture
def team(project, images, member, client, local_compute):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    quota(project, "nvidia-a100-80gb", nominal_gpus=2, nominal_cpu=24, nominal_memory_gib=340)
    user = member(Role.EDITOR, "erin")
    client.force_login(user)
    return user


def flavor_input(html: str, flavor: str) -> str:
    return html.split(f'id="f-flavor-{flavor}"')[1].split(">", 1)[0]


def test_without_gpus_the_form_does_not_offer_a_gpu_flavor_and_says_why(client, team, machine_gpus):
    machine_gpus(0)

    html = client.get(NEW).content.decode()

    assert "2 of 2 GPUs free now" not in html
    assert "not on this machine: it has no GPUs" in html
    assert "disabled" in flavor_input(html, "nvidia-a100-80gb")
    assert "disabled" not in flavor_input(html, "cpu")


def test_with_fewer_gpus_than_quota_the_form_offers_what_the_machine_has(client, team, machine_gpus):
    machine_gpus(1)

    html = client.get(NEW).content.decode()

    assert "1 of 2 GPUs free now; this machine has 1" in html
    assert 'data-max="1"' in flavor_input(html, "nvidia-a100-80gb")


def test_a_notebook_asking_for_gpus_the_machine_lacks_is_refused_at_its_field(
    client, api, team, machine_gpus
):
    machine_gpus(0)

    page = client.post(NEW, A100)
    rest = api(team).post(
        "/api/projects/team-a/notebooks/",
        {"name": "vision", "image": "pytorch-cuda", "flavor": "nvidia-a100-80gb", "gpus": 2},
        format="json",
    )

    html = page.content.decode().replace("&#x27;", "'")
    assert page.status_code == 400
    assert "'vision' asks for 2 GPUs, and this machine (the local backend) has no GPUs" in html
    assert 'data-testid="field-error"' in html.split('id="f-gpus"')[1]
    assert rest.status_code == 400
    assert "has no GPUs" in str(rest.json()["gpus"])
    assert not Notebook.objects.exists()


def test_a_notebook_that_failed_without_a_log_says_so_and_its_header_keeps_up_with_its_events(
    client, team, project, machine_gpus, monkeypatch
):
    # Given a GPU notebook admitted while the machine had its GPUs, which it has since lost
    machine_gpus(2)
    notebook = services.notebook_create(
        project=project, owner=team, name="vision", image="pytorch-cuda", flavor="nvidia-a100-80gb", gpus=2
    )
    compute.admission_pass()
    machine_gpus(0)
    # and whose start fails while its page is being read (between the notebook and its events)
    real_get = views.selectors.notebook_get

    def get_then_fail(**kwargs):
        found = real_get(**kwargs)
        compute.workload_start(workload_id=notebook.workload_id)
        return found

    monkeypatch.setattr(views.selectors, "notebook_get", get_then_fail)

    html = client.get("/projects/team-a/notebooks/vision/").content.decode()

    header = html.split('id="notebook-header"')[1].split('data-testid="state">')[1].split("<")[0]
    events = html.split('data-testid="events"')[1]
    last_event = events.split('class="badge state')[1].split(">", 1)[1].split("<")[0]
    assert Workload.objects.get(pk=notebook.workload_id).state == Workload.State.FAILED
    assert (header, last_event) == ("FAILED", "FAILED")
    assert "needs 2 GPUs, this machine has 0" in html
    assert "It wrote no log" in html
    assert "Look at the last lines of its log below" not in html
