"""Bad MPI jobs are refused with the field and the reason, and nothing is queued; the gang's spec
is one workload of a launcher and N workers."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from distributed_app.inputs import request_from_json
from distributed_app.models import DistributedJob
from distributed_app.specs import FlavorShape, distributed_spec
from mlplatform.compute.models import Workload
from mlplatform.compute.spec import SpecError, spec_from_dict, spec_to_dict, validate_spec
from mlplatform.core.models import Role
from tests.factories import quota
from tests.forms import read_form

JOBS = "/api/projects/team-a/distributed-jobs/"
GOOD = {"name": "allreduce", "command": ["python", "train.py"], "workers": 2}
A100 = FlavorShape(name="nvidia-a100-80gb", is_gpu=True, node_slots=8, cpu_per_gpu=Decimal(12))


@pytest.fixture
def editor(api, member, project):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    return api(member(Role.EDITOR))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"workers": 0}, "workers", "from 1 to 128 (got 0)"),
        ({"workers": 100000}, "workers", "from 1 to 128"),
        ({"workers": "many"}, "workers", "whole number"),
        ({"slots_per_worker": 500}, "slots_per_worker", "do not fit on one cpu node"),
        ({"flavor": "tpu-v9"}, "flavor", "not a flavor"),
        ({"command": []}, "command", "non-empty list"),
        ({"privileged": True}, "privileged", "unprivileged"),
        ({"securityContext": {"runAsUser": 0}}, "securityContext", "unprivileged"),
        ({"name": "Not_A_Label"}, "name", "DNS-1123"),
        ({"mpi_implementation": "lam"}, "mpi_implementation", "openmpi, intel, mpich"),
        ({"mpi_implementation": "intel"}, "mpi_implementation", "Kubernetes backend"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_queued(editor, change, field, reason):
    response = editor.post(JOBS, {**GOOD, **change}, format="json")

    assert response.status_code == 400, response.content
    error = response.json()
    assert field in str(error)
    assert reason in str(error)
    assert not DistributedJob.objects.exists()
    assert not Workload.objects.exists()


@pytest.mark.django_db
def test_a_second_job_of_the_same_name_is_refused(editor):
    assert editor.post(JOBS, GOOD, format="json").status_code == 201

    response = editor.post(JOBS, GOOD, format="json")

    assert response.status_code == 409
    assert Workload.objects.count() == 1


def test_the_gang_is_one_workload_of_a_launcher_and_n_workers_with_their_gpus():
    request = request_from_json({**GOOD, "workers": 4, "slots_per_worker": 8, "flavor": A100.name})

    spec = distributed_spec(request, flavor=A100)

    launcher, workers = spec.groups
    assert (launcher.role, launcher.count, launcher.resources.gpus) == ("launcher", 1, 0)
    assert (workers.role, workers.count, workers.resources.gpus) == ("worker", 4, 8)
    assert workers.resources.cpu == Decimal(96)
    assert spec.requests()[A100.name].gpus == 32  # admitted all at once: the whole gang's GPUs
    assert (spec.mpi.slots, spec.mpi.implementation) == (8, "openmpi")
    assert launcher.command == ("python", "train.py")


def test_the_gang_spec_survives_the_workload_row_and_a_second_launcher_is_refused():
    spec = distributed_spec(request_from_json(GOOD), flavor=A100)

    assert spec_from_dict(spec_to_dict(spec)) == spec
    two_launchers = replace(spec, groups=(replace(spec.groups[0], count=2), spec.groups[1]))
    with pytest.raises(SpecError, match="exactly one launcher"):
        validate_spec(two_launchers)


@pytest.mark.django_db
def test_the_form_queues_a_job_and_shows_a_refusal_naming_the_field(client, member, project):
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    client.force_login(member(Role.EDITOR))
    form = {"name": "allreduce", "command": "python -m mpi4py train.py", "workers": "2", "flavor": "cpu"}

    refused = client.post("/projects/team-a/distributed/new/", {**form, "workers": "0"})
    made = client.post("/projects/team-a/distributed/new/", form)

    assert refused.status_code == 400
    assert b"workers" in refused.content
    assert b"from 1 to 128 (got 0)" in refused.content
    assert made.status_code == 302
    job = DistributedJob.objects.get()
    assert job.input["command"] == ["python", "-m", "mpi4py", "train.py"]
    listed = client.get("/projects/team-a/distributed/")
    assert b"allreduce" in listed.content
    page = client.get(made.url)
    assert page.status_code == 200
    assert b"Not written yet" in page.content  # the hostfile, before the launcher ran


@pytest.mark.django_db
def test_the_form_marks_every_bad_field_at_once_and_keeps_what_was_typed(client, member, project):
    client.force_login(member(Role.EDITOR))
    typed = {
        "name": "All_Reduce",
        "command": "python -c 'unclosed",
        "workers": "0",
        "slots_per_worker": "x",
        "flavor": "cpu",
        "max_run_seconds": "0",
    }

    response = client.post("/projects/team-a/distributed/new/", typed)

    form = read_form(response.content.decode())
    assert response.status_code == 400  # an unclosed quote is a form error, not a server error
    assert form.invalid == {"name", "command", "workers", "slots_per_worker", "max_run_seconds"}
    assert form.values["command"] == "python -c 'unclosed"
    assert form.values["workers"] == "0"
    assert not DistributedJob.objects.exists()
