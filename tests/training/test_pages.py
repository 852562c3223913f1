"""The Training pages: the jobs list, the submit form and its googleapiclient twin, a job's page."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from mlplatform.compute import services as compute
from mlplatform.compute.models import Workload
from mlplatform.core.models import Role
from mlplatform.storage.services import storage_connection_create
from tests.compute.test_replica_states import replica_states
from tests.factories import job_row, quota, replica_wrote
from tests.forms import read_form
from tests.packages import uploaded
from training_app import services
from training_app.models import Job
from training_app.views import (
    duration,
    form_from_job,
    form_input,
    job_body_from_form,
    job_dir_for,
    next_job_id,
    tf_configs,
)

PACKAGE_FORM = {
    "job_id": "mnist_1",
    "kind": "package",
    "package_uris": "gs://demo/packages/trainer-0.1.tar.gz,\ngs://demo/packages/extra-1.0.tar.gz",
    "python_module": "trainer.task",
    "runtime": "2.11|3.7",
    "scale_tier": "BASIC",
    "args": "--epochs\n 10 \n\n",
    "job_dir": "gs://demo/jobs/mnist_1",
    "labels": "team=vision\nstage = dev",
    "retries": "2",
    "fail_fast_exit_codes": "2, 42 7",
    # what the other kind and the CUSTOM tier would use is ignored
    "image_uri": "ignored:1",
    "master_type": "n1-standard-4",
}


@pytest.fixture
def team(project, settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    storage_connection_create(
        project=project, name="local", kind="local", buckets=["demo"], make_default=True
    )
    uploaded(settings.STORAGE_LOCAL_ROOT / "demo")  # the trainer packages its jobs name
    quota(project, "cpu", nominal_cpu=8, nominal_memory_gib=32)
    return project


def submit(project, job_id: str = "mnist_1", **training) -> Job:
    body = {
        "jobId": job_id,
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": ["gs://demo/packages/trainer-0.1.tar.gz"],
            "pythonModule": "trainer.task",
            **training,
        },
    }
    return services.job_create(project=project, body=body)


RUNNING_MASTER = [{"role": "master", "index": 0, "phase": "running", "stage": "ready", "message": ""}]


# --- the form as an AI Platform Job body ---------------------------------------------------------


def test_a_package_form_becomes_an_ai_platform_job_body():
    body = job_body_from_form(PACKAGE_FORM)

    assert body == {
        "jobId": "mnist_1",
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": ["gs://demo/packages/trainer-0.1.tar.gz", "gs://demo/packages/extra-1.0.tar.gz"],
            "pythonModule": "trainer.task",
            "runtimeVersion": "2.11",
            "pythonVersion": "3.7",
            "args": ["--epochs", "10"],
            "jobDir": "gs://demo/jobs/mnist_1",
        },
        "labels": {
            "team": "vision",
            "stage": "dev",
            "mlplatform-retries": "2",
            "mlplatform-fail-fast-exit-codes": "2-42-7",
        },
    }


def test_a_container_form_sets_the_master_image_command_and_args_and_no_runtime():
    body = job_body_from_form(
        {
            "job_id": "custom_1",
            "kind": "container",
            "image_uri": "registry.example.com/trainer:1",
            "command": "python -m 'trainer.task'",
            "container_args": "--lr\n0.1",
            "runtime": "2.11|3.7",
            "python_module": "ignored",
            "scale_tier": "BASIC_GPU",
        }
    )

    assert body == {
        "jobId": "custom_1",
        "trainingInput": {
            "scaleTier": "BASIC_GPU",
            "masterConfig": {
                "imageUri": "registry.example.com/trainer:1",
                "containerCommand": ["python", "-m", "trainer.task"],
                "containerArgs": ["--lr", "0.1"],
            },
        },
    }


def test_a_custom_tier_with_gpus_names_every_machine_and_counts_as_int64_strings():
    form = {
        **PACKAGE_FORM,
        "scale_tier": "CUSTOM",
        "master_type": "a2-highgpu-1g",
        "master_accelerator_type": "NVIDIA_TESLA_A100",
        "master_accelerator_count": "1",
        "worker_count": "2",
        "worker_type": "",
        "worker_accelerator_type": "NVIDIA_TESLA_T4",
        "worker_accelerator_count": "",
        "ps_count": "1",
        "ps_type": "n1-highmem-8",
    }

    training = job_body_from_form(form)["trainingInput"]

    assert training["scaleTier"] == "CUSTOM"
    assert training["masterType"] == "a2-highgpu-1g"
    assert training["masterConfig"] == {"acceleratorConfig": {"count": "1", "type": "NVIDIA_TESLA_A100"}}
    assert training["workerCount"] == "2"
    assert training["workerType"] == "a2-highgpu-1g"  # blank: the master's type, as gcloud does
    assert training["workerConfig"] == {"acceleratorConfig": {"count": "1", "type": "NVIDIA_TESLA_T4"}}
    assert training["parameterServerCount"] == "1"
    assert training["parameterServerType"] == "n1-highmem-8"


def test_a_custom_container_keeps_the_image_beside_the_master_accelerator():
    training = job_body_from_form(
        {
            "job_id": "c",
            "kind": "container",
            "image_uri": "trainer:1",
            "scale_tier": "CUSTOM",
            "master_type": "n1-standard-8",
            "master_accelerator_type": "NVIDIA_L4",
            "master_accelerator_count": "2",
            "worker_count": "0",
        }
    )["trainingInput"]

    assert training["masterConfig"] == {
        "acceleratorConfig": {"count": "2", "type": "NVIDIA_L4"},
        "imageUri": "trainer:1",
    }
    assert "workerCount" not in training


def test_an_existing_job_fills_the_form_that_submits_it_again():
    for form in (
        PACKAGE_FORM,
        {
            "job_id": "c",
            "kind": "container",
            "image_uri": "t:1",
            "command": "run 'a b'",
            "scale_tier": "BASIC",
        },
        {
            **PACKAGE_FORM,
            "scale_tier": "CUSTOM",
            "master_accelerator_type": "NVIDIA_L4",
            "master_accelerator_count": "2",
            "worker_count": "3",
            "worker_type": "g2-standard-8",
            "ps_count": "1",
            "ps_type": "n1-standard-4",
        },
    ):
        body = job_body_from_form(form)

        again = job_body_from_form(
            {**form_from_job(body["trainingInput"], body.get("labels", {})), "job_id": "c"}
        )

        assert again == {**body, "jobId": "c"}


def test_error_fields_point_at_the_form_inputs():
    assert form_input("jobId") == "job_id"
    assert form_input("trainingInput.pythonModule") == "python_module"
    assert form_input("trainingInput.packageUris[1]") == "package_uris"
    assert form_input("trainingInput.masterConfig.acceleratorConfig.type") == "master_accelerator_type"
    assert form_input("trainingInput.workerConfig.acceleratorConfig.count") == "worker_accelerator_count"
    assert form_input("labels.mlplatform-retries") == "retries"
    assert form_input("labels.Team") == "labels"
    assert form_input("trainingInput.region") == ""
    assert form_input(None) == ""


def test_a_clone_gets_the_next_free_id():
    assert next_job_id("mnist", set()) == "mnist_2"
    assert next_job_id("mnist_2", {"mnist_3"}) == "mnist_4"
    assert next_job_id("job_20250101_120000", set()) == "job_20250101_120000_2"
    assert len(next_job_id("a" * 128, set())) == 128


def test_durations_read_like_a_clock():
    from datetime import datetime, timedelta

    start = datetime(2025, 1, 1, 12, 0, 0)
    assert duration(None, None, start) == ""
    assert duration(start, start + timedelta(seconds=12), start) == "12s"
    assert duration(start, None, start + timedelta(minutes=4, seconds=9)) == "4m 09s"
    assert duration(start, start + timedelta(hours=1, minutes=5, seconds=30), start) == "1h 05m"


def test_tf_config_lists_the_cluster_without_the_evaluator_and_each_replica_task():
    groups = [
        {"role": "chief", "count": 1},
        {"role": "worker", "count": 2, "ports": [3333]},
        {"role": "ps", "count": 1},
        {"role": "evaluator", "count": 1},
    ]
    training = {"scaleTier": "CUSTOM", "masterType": "n1-standard-4", "workerCount": 2}

    configs = dict(tf_configs(groups, training, [{"role": "worker", "index": 1, "address": "10.0.0.7:3333"}]))

    assert list(configs) == ["chief-0", "worker-0", "worker-1", "ps-0", "evaluator-0"]
    assert configs["worker-1"] == {
        "cluster": {
            "chief": ["chief-0:2222"],
            "worker": ["worker-0:3333", "10.0.0.7:3333"],
            "ps": ["ps-0:2222"],
        },
        "task": {"type": "worker", "index": 1},
        "job": {"scale_tier": "CUSTOM", "master_type": "n1-standard-4", "worker_count": "2"},
        "environment": "cloud",
    }
    assert configs["evaluator-0"]["task"] == {"type": "evaluator", "index": 0}
    assert configs["evaluator-0"]["cluster"] == configs["worker-1"]["cluster"]


# --- the jobs list --------------------------------------------------------------------------------


def test_the_list_shows_jobs_with_their_state_and_why_a_queued_one_waits(client, project, member):
    client.force_login(member(Role.VIEWER))
    queued = job_row(project, "waiting_job", labels={"team": "vision"})
    Workload.objects.filter(pk=queued.workload_id).update(reason="waiting for 8 x nvidia-a100-80gb")
    job_row(project, "done_job", state="SUCCEEDED")
    job_row(project, "ready_job", state="STARTING")

    page = client.get("/projects/team-a/training/")
    html = page.content.decode()

    assert page.status_code == 200
    assert "waiting_job" in html
    assert "done_job" in html
    assert "waiting for 8 x nvidia-a100-80gb" in html
    assert "#1</span> in queue" in html
    assert ">SUCCEEDED<" in html
    assert ">PREPARING<" in html
    assert "team=vision" in html
    assert 'hx-trigger="every 5s"' in html  # something is still to finish
    assert "Submit job" not in html  # a viewer submits nothing


def test_the_list_filters_by_state_and_stops_polling_when_all_ended(client, project, editor):
    job_row(project, "queued_job")
    job_row(project, "failed_job", state="FAILED")

    failed = client.get("/projects/team-a/training/?state=FAILED").content.decode()
    table = client.get("/projects/team-a/training/?fragment=table&state=QUEUED").content.decode()
    everything = client.get("/projects/team-a/training/").content.decode()

    assert "failed_job" in failed
    assert "queued_job" not in failed
    assert "every 5s" not in failed
    assert table.startswith('<section id="job-table"')
    assert "queued_job" in table
    assert "failed_job" not in table
    assert "Submit job" in everything


def test_an_empty_project_invites_an_editor_to_submit(client, project, editor):
    html = client.get("/projects/team-a/training/").content.decode()

    assert "No training jobs yet" in html
    assert "/projects/team-a/training/new/" in html


def test_non_members_get_404_and_viewers_403_on_submit_and_cancel(client, project, member, outsider):
    job = job_row(project, "someone_elses")
    client.force_login(outsider)
    assert client.get("/projects/team-a/training/").status_code == 404
    assert client.get(job.get_absolute_url()).status_code == 404

    client.force_login(member(Role.VIEWER))
    assert client.get(job.get_absolute_url()).status_code == 200
    assert client.get("/projects/team-a/training/new/").status_code == 403
    assert client.post("/projects/team-a/training/new/", PACKAGE_FORM).status_code == 403
    assert client.post(f"{job.get_absolute_url()}cancel/").status_code == 403
    assert Job.objects.count() == 1
    assert Workload.objects.get().state == "QUEUED"


# --- the submit form ------------------------------------------------------------------------------


def test_the_form_starts_from_the_default_runtime_and_bucket(client, team, editor):
    html = client.get("/projects/team-a/training/new/").content.decode()

    assert 'name="job_id" value="job_' in html
    assert 'value="gs://demo/jobs/job_' in html
    assert 'value="|" selected' in html  # the default runtime row (any version)
    assert "NVIDIA_TESLA_A100" in html
    assert "n1-standard-8" in html
    assert "ml.projects().jobs().create(" in html
    assert 'parent="projects/team-a"' in html
    assert '"api_endpoint": "http://testserver/"' in html


def test_the_api_call_follows_the_form(client, team, editor):
    snippet = client.get("/projects/team-a/training/new/", {**PACKAGE_FORM, "fragment": "snippet"})

    assert snippet.status_code == 200
    html = snippet.content.decode()
    assert "&quot;pythonModule&quot;: &quot;trainer.task&quot;" in html
    assert "&quot;mlplatform-fail-fast-exit-codes&quot;: &quot;2-42-7&quot;" in html
    assert "<form" not in html


def test_submitting_the_form_queues_the_job_and_opens_its_page(client, team, editor):
    response = client.post("/projects/team-a/training/new/", {**PACKAGE_FORM, "runtime": "|"})

    job = Job.objects.get(job_id="mnist_1")
    assert response.status_code == 302
    assert response["Location"] == "/projects/team-a/training/mnist_1/"
    assert job.state == "QUEUED"
    assert job.created_by == editor
    assert job.input["pythonModule"] == "trainer.task"
    assert job.labels["mlplatform-retries"] == "2"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"job_id": "mnist-1"}, "job_id", "must start with a letter"),
        ({"python_module": ""}, "python_module", ""),
    ],
)
def test_a_bad_field_is_sent_back_with_its_message_next_to_it(client, team, editor, change, field, message):
    response = client.post("/projects/team-a/training/new/", {**PACKAGE_FORM, "runtime": "|", **change})

    html = response.content.decode()
    assert response.status_code == 400
    assert list(response.context["error"]["inputs"]) == [field]
    assert message in response.context["error"]["message"]
    assert f'name="{field}"' in html
    assert "is-invalid" in html
    assert 'data-testid="field-error"' in html
    assert 'value="gs://demo/jobs/mnist_1"' in html  # what was typed stays
    assert not Job.objects.exists()


HYPERPARAMETERS = {
    "goal": "MAXIMIZE",
    "hyperparameterMetricTag": "accuracy",
    "maxTrials": 4,
    "maxParallelTrials": 2,
    "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1}],
}


def test_a_form_with_hyperparameters_queues_a_tuning_job_and_its_first_trials(client, team, editor):
    form = {**PACKAGE_FORM, "runtime": "|", "hyperparameters": json.dumps(HYPERPARAMETERS)}

    response = client.post("/projects/team-a/training/new/", form)

    assert response.status_code == 302
    job = Job.objects.get(job_id="mnist_1")
    assert job.input["hyperparameters"] == HYPERPARAMETERS
    assert job.trials.count() == 2  # maxParallelTrials
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'data-testid="trials"' in page
    assert 'data-trial-chart="lr"' in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ('{"goal": "MAXIMIZE",', "is not JSON: Expecting property name"),
        (json.dumps({**HYPERPARAMETERS, "maxParallelTrials": 5}), "must be at most maxTrials (4)"),
    ],
)
def test_bad_hyperparameters_are_sent_back_next_to_their_field_and_nothing_is_queued(
    client, team, editor, typed, message
):
    form = {**PACKAGE_FORM, "runtime": "|", "hyperparameters": typed}

    response = client.post("/projects/team-a/training/new/", form)

    assert response.status_code == 400
    assert message in response.context["error"]["inputs"]["hyperparameters"]
    assert typed.replace('"', "&quot;") in response.content.decode()  # what was typed stays
    assert not Job.objects.exists()


def test_a_clone_of_a_tuning_job_keeps_its_hyperparameters(client, team, editor):
    submit(team, hyperparameters=HYPERPARAMETERS)

    form = client.get("/projects/team-a/training/new/?clone=mnist_1").context["form"]

    assert json.loads(form["hyperparameters"]) == HYPERPARAMETERS


def test_several_bad_fields_are_all_marked_at_once_and_everything_typed_stays(client, team, editor):
    typed = {
        **PACKAGE_FORM,
        "job_id": "mnist-1",
        "python_module": "",
        "job_dir": "gs://demo/jobs/a,b",
        "labels": "Team=vision",
        "scale_tier": "CUSTOM",
        "master_type": "n1-standard-4",
        "worker_count": "2",
    }

    response = client.post("/projects/team-a/training/new/", typed)

    form = read_form(response.content.decode())
    assert response.status_code == 400
    assert form.invalid == {"job_id", "python_module", "job_dir", "labels"}
    assert len(form.messages) == 4
    assert form.values["package_uris"] == PACKAGE_FORM["package_uris"]
    assert form.values["args"] == PACKAGE_FORM["args"]
    assert form.values["runtime"] == "2.11|3.7"
    assert form.values["scale_tier"] == "CUSTOM"
    assert form.values["worker_count"] == "2"
    assert form.values["master_type"] == "n1-standard-4"
    assert not Job.objects.exists()


def test_clone_and_edit_prefills_the_form_under_a_new_id(client, team, editor):
    submit(team, args=["--epochs", "3"], jobDir="gs://demo/jobs/mnist_1")

    html = client.get("/projects/team-a/training/new/?clone=mnist_1").content.decode()

    assert 'name="job_id" value="mnist_2"' in html
    assert "gs://demo/packages/trainer-0.1.tar.gz</textarea>" in html
    assert 'value="trainer.task"' in html
    assert "--epochs\n3</textarea>" in html
    assert client.get("/projects/team-a/training/new/?clone=nope").status_code == 404


def test_a_clone_writes_under_its_own_id_unless_its_directory_was_chosen_by_hand(client, team, editor):
    submit(team, jobDir="gs://demo/jobs/mnist_1")
    submit(team, "shared_1", jobDir="gs://demo/shared/output/")

    clone = client.get("/projects/team-a/training/new/?clone=mnist_1").content.decode()
    chosen = client.get("/projects/team-a/training/new/?clone=shared_1").content.decode()
    form = {**PACKAGE_FORM, "job_id": "mnist_2", "job_dir": "gs://demo/jobs/mnist_2"}
    client.post("/projects/team-a/training/new/", form)

    assert 'name="job_dir" value="gs://demo/jobs/mnist_2"' in clone
    assert 'name="job_dir" value="gs://demo/shared/output/"' in chosen
    assert Job.objects.get(job_id="mnist_2").input["jobDir"] == "gs://demo/jobs/mnist_2"
    assert job_dir_for("gs://demo/jobs/mnist_1/", "mnist_1", "mnist_2") == "gs://demo/jobs/mnist_2/"
    assert job_dir_for("gs://demo/jobs/old_mnist_1", "mnist_1", "mnist_2") == "gs://demo/jobs/old_mnist_1"


# --- a job's page ---------------------------------------------------------------------------------


def test_the_job_page_shows_status_events_ai_platform_view_and_tf_config(client, team, editor):
    job = submit(team, args=["--epochs", "3"])

    page = client.get(job.get_absolute_url())
    html = page.content.decode()

    assert page.status_code == 200
    assert ">QUEUED<" in html
    assert 'data-testid="events"' in html
    assert "QUEUED" in page.context["events"][0].state
    assert 'data-testid="job-position"' in html
    assert "consumedMLUnits" in html
    assert "&quot;pythonModule&quot;: &quot;trainer.task&quot;" in html
    configs = dict(page.context["tf_configs"])
    first = json.loads(next(iter(configs.values())))
    assert first["environment"] == "cloud"
    assert first["job"]["python_module"] == "trainer.task"
    assert first["job"]["args"] == ["--epochs", "3"]
    assert first["task"]["index"] == 0
    assert "evaluator" not in first["cluster"]
    assert "Clone and edit" in html
    assert "Cancel" in html
    assert 'hx-get="?fragment=status"' in html
    assert f'hx-get="/projects/team-a/queue/workloads/{job.workload_id}/utilisation/"' in html


def test_the_job_page_fragments_refresh_status_and_logs(client, team, editor):
    job = submit(team)

    status = client.get(f"{job.get_absolute_url()}?fragment=status").content.decode()
    logs = client.get(f"{job.get_absolute_url()}?fragment=logs").content.decode()

    assert status.startswith('<div id="job-status"')
    assert 'id="job-header" hx-swap-oob="true"' in status
    assert 'id="job-resource" hx-swap-oob="true"' in status
    assert logs.startswith('<div id="replica-log"')
    assert "No log yet" in logs


def test_the_job_page_and_the_list_show_what_the_job_cost(client, team, editor):
    # Given a BASIC job (4 vCPUs of the CPU flavor, 0.04 per vCPU-hour) that ran for 2 hours
    job = submit(team)
    now = timezone.now()
    Workload.objects.filter(pk=job.workload_id).update(
        state=Workload.State.SUCCEEDED,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=1),
    )

    page = client.get(job.get_absolute_url()).content.decode()
    status = client.get(f"{job.get_absolute_url()}?fragment=status").content.decode()
    listed = client.get("/projects/team-a/training/").content.decode()

    assert '<span data-testid="cost">$0.32</span>' in page
    assert '<span data-testid="cost">$0.32</span>' in status
    assert '<td class="small text-end text-nowrap" data-testid="job-cost">$0.32</td>' in listed


def test_a_cancelled_training_job_whose_process_is_gone_no_longer_shows_master_running(
    client, team, editor, local_compute
):
    # Given a running job whose master the backend last saw running (its process since gone)
    job = submit(team)
    Workload.objects.filter(pk=job.workload_id).update(
        state=Workload.State.RUNNING, backend="local", replicas=RUNNING_MASTER
    )

    # When an editor cancels it and the stop and the status sync run
    client.post(f"{job.get_absolute_url()}cancel/")
    compute.workload_stop(workload_id=job.workload_id)
    compute.workloads_sync()
    page = client.get(job.get_absolute_url()).content.decode()

    # Then the page, reloaded, says the job and its master were cancelled
    assert ">CANCELLED<" in page
    assert replica_states(page) == ["cancelled"]
    assert "cancelled with its workload" in page


def test_an_editor_cancels_a_queued_job(client, team, editor):
    job = submit(team)

    response = client.post(f"{job.get_absolute_url()}cancel/", follow=True)
    again = client.post(f"{job.get_absolute_url()}cancel/", follow=True)

    html = response.content.decode()
    assert Job.objects.get().state == "CANCELLED"
    assert "cancelled by erin" in html  # a job is cancelled (a notebook is stopped)
    assert ">CANCELLED<" in html
    assert 'hx-trigger="every 2s"' not in html  # nothing left to follow
    assert "already ended" in again.content.decode()


# --- a job's log -----------------------------------------------------------------------------------

EPOCHS = "".join(f"epoch {n}: loss 0.{n:03d}\n" for n in range(1, 301)) + "Saved model to gs://demo/out\n"


def test_a_viewer_downloads_the_whole_log_as_a_file_named_after_the_job_and_replica(
    client, team, member, outsider, local_compute
):
    # Given a running job whose master wrote more lines than its page shows
    job = submit(team)
    replica_wrote(job.workload, EPOCHS)
    client.force_login(member(Role.VIEWER))

    # When a viewer of the project follows the page's Download link
    page = client.get(job.get_absolute_url()).content.decode()
    link = re.search(r'href="([^"]+)"><i class="bi bi-download"></i> Download', page)[1]
    response = client.get(link)

    # Then they get every line, as a text file called after the job and the replica
    assert "epoch 101: " not in page  # the page: the last 200 lines
    assert "epoch 102: " in page
    assert link == "/projects/team-a/training/mnist_1/log/?role=master&index=0"
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="mnist_1-master-0.log"'
    assert b"".join(response.streaming_content).decode() == EPOCHS
    assert client.get(link.replace("master", "worker")).status_code == 400
    client.force_login(outsider)
    assert client.get(link).status_code == 404


def test_the_log_search_keeps_matching_lines_in_any_case_and_says_when_none_match(
    client, team, editor, local_compute
):
    job = submit(team)
    replica_wrote(job.workload, EPOCHS)
    logs = f"{job.get_absolute_url()}?fragment=logs&role=master&index=0"

    found = client.get(f"{logs}&q=SAVED").content.decode()
    early = client.get(f"{logs}&q=epoch 1").content.decode()  # searched through the whole log
    none = client.get(f"{logs}&q=nan").content.decode()
    page = client.get(f"{job.get_absolute_url()}?q=saved+model").content.decode()  # without htmx

    assert "Saved model to gs://demo/out" in found
    assert "epoch" not in found
    assert "epoch 1: loss 0.001" in early
    assert "epoch 100: loss 0.100" in early
    assert "epoch 2: loss" not in early
    assert "No lines match “nan”." in none
    assert 'value="saved model"' in page
    assert page.count("epoch ") == 0


def test_timestamps_and_wrapping_are_offered_and_the_local_backend_says_it_records_no_times(
    client, team, editor, local_compute
):
    job = submit(team)
    replica_wrote(job.workload, "epoch 1\n")

    page = client.get(f"{job.get_absolute_url()}?timestamps=1&wrap=1").content.decode()

    timestamps = re.search(r'<input [^>]*id="log-timestamps"[^>]*>', page)[0]
    assert "disabled" in timestamps
    assert "checked" not in timestamps  # asked for, but there are none to show
    assert "(timestamps are not recorded by this backend)" in page
    assert re.search(r'<input [^>]*id="log-wrap"[^>]*checked', page)
    assert '<pre class="log-view mb-0" data-testid="log">epoch 1\n</pre>' in page


def test_the_form_offers_runtime_versions_newest_first_as_numbers(client, member, seeded_catalog):
    from training_app.models import RuntimeVersion

    RuntimeVersion.objects.create(runtime_version="2.10", python_version="3.10", image="python:3.10-slim")
    RuntimeVersion.objects.create(runtime_version="2.10", python_version="3.9", image="python:3.9-slim")
    client.force_login(member(Role.EDITOR))

    html = client.get("/projects/team-a/training/new/").content.decode()

    offered = [v for v in re.findall(r'<option value="([^"|]*)\|([^"]*)"', html)]
    assert offered == [
        ("", ""),
        ("2.11", "3.7"),
        ("2.10", "3.10"),
        ("2.10", "3.9"),
        ("2.8", "3.7"),
        ("2.1", "3.7"),
    ]


def test_without_a_python_version_a_runtime_runs_its_newest_python(seeded_catalog):
    from training_app.models import RuntimeVersion
    from training_app.selectors import runtime_version_for

    RuntimeVersion.objects.create(runtime_version="2.10", python_version="3.9", image="python:3.9-slim")
    RuntimeVersion.objects.create(runtime_version="2.10", python_version="3.10", image="python:3.10-slim")

    assert runtime_version_for(runtime_version="2.10", python_version="").python_version == "3.10"


def test_a_missing_package_is_marked_at_the_package_field_with_its_uri(client, team, editor, settings):
    typed = {
        **PACKAGE_FORM,
        "package_uris": "gs://demo/packages/trainer-0.1.tar.gz\ngs://demo/packages/typo.tar.gz",
    }

    response = client.post("/projects/team-a/training/new/", typed)

    form = read_form(response.content.decode())
    assert response.status_code == 400
    assert form.invalid == {"package_uris"}
    assert form.messages[0].startswith("gs://demo/packages/typo.tar.gz was not found")
    assert str(settings.STORAGE_LOCAL_ROOT) not in response.content.decode()
    assert not Job.objects.exists()
