"""The seeded GPU catalog, quotas edited in Django admin, and the quota API."""

from decimal import Decimal

import pytest
from django.test import Client

from mlplatform.quotas.models import AcceleratorType, Cohort, MachineType, ProjectQuota
from tests.factories import PASSWORD, UserFactory, quota


@pytest.fixture
def admin_client(db) -> Client:
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    assert client.login(username="root", password=PASSWORD)
    return client


@pytest.mark.parametrize(
    ("name", "vcpus", "flavor", "gpus"),
    [
        ("n1-standard-4", 4, "cpu", 0),
        ("n1-highmem-96", 96, "cpu", 0),
        ("a2-highgpu-8g", 96, "nvidia-a100-40gb", 8),
        ("standard_gpu", 8, "nvidia-tesla-t4", 1),
        ("complex_model_m", 16, "cpu", 0),
        ("BASIC_GPU", 8, "nvidia-tesla-t4", 1),
        ("mls1-c1-m2", 1, "cpu", 0),
        ("n1-highcpu-2", 2, "cpu", 0),
    ],
)
def test_the_catalog_knows_ai_platform_machine_names(db, name, vcpus, flavor, gpus):
    machine = MachineType.objects.get(name=name)

    assert (machine.vcpus, machine.flavor.name, machine.gpu_count) == (vcpus, flavor, gpus)


def test_machine_types_added_later_reach_installs_seeded_before_and_leave_admins_edits(db):
    from mlplatform.quotas.catalog import add_machine_types
    from mlplatform.quotas.models import Flavor

    MachineType.objects.filter(name="mls1-c4-m2").delete()  # as on an install seeded before it
    MachineType.objects.filter(name="mls1-c1-m2").update(vcpus=2)  # an admin's edit

    add_machine_types(Flavor, MachineType, ("mls1-c1-m2", "mls1-c4-m2"))

    assert MachineType.objects.get(name="mls1-c4-m2").kind == MachineType.Kind.PREDICTION
    assert MachineType.objects.get(name="mls1-c1-m2").vcpus == 2


def test_scale_tiers_describe_their_cluster(db):
    standard = MachineType.objects.get(name="STANDARD_1")

    assert (standard.kind, standard.worker_count, standard.parameter_server_count) == ("scale_tier", 4, 3)
    assert set(MachineType.objects.filter(kind="scale_tier").values_list("name", flat=True)) == {
        "BASIC",
        "BASIC_GPU",
        "STANDARD_1",
        "PREMIUM_1",
    }


def test_google_accelerator_names_map_to_flavors(db):
    assert AcceleratorType.objects.get(name="NVIDIA_TESLA_A100").flavor.name == "nvidia-a100-40gb"
    assert AcceleratorType.objects.get(name="NVIDIA_H100_80GB").flavor.resource_name == "nvidia.com/gpu"


def _inline_post(project, **row) -> dict:
    """The admin change form of `project` with one new quota row."""
    data = {
        "display_name": project.display_name,
        "description": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "quotas-TOTAL_FORMS": "1",
        "quotas-INITIAL_FORMS": "0",
    }
    data.update({f"quotas-0-{key}": value for key, value in row.items()})
    return data


def test_admin_shows_quotas_inline_with_their_usage(admin_client, project):
    quota(project, "nvidia-a100-80gb", nominal_gpus=8, nominal_cpu=96, nominal_memory_gib=1360)

    page = admin_client.get(f"/admin/core/project/{project.pk}/change/").content.decode()

    assert "nvidia-a100-80gb" in page
    assert "in use (gpus / vcpus / gib)" in page.lower()
    assert "0 / 0 / 0" in page


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"nominal_gpus": "-1"}, "greater than or equal to 0"),
        ({"nominal_gpus": "2", "nominal_cpu": "-4"}, "greater than or equal to 0"),
        ({"nominal_gpus": "2", "gpu_lending_limit": "1"}, "need a cohort"),
        ({"nominal_gpus": "2", "cohort": "COHORT", "gpu_lending_limit": "3"}, "Cannot lend more than"),
    ],
)
def test_admin_rejects_negative_or_inconsistent_quotas(admin_client, project, row, message):
    cohort = Cohort.objects.create(name="research")
    flavor_id = str(
        ProjectQuota._meta.get_field("flavor").related_model.objects.get(name="nvidia-tesla-t4").pk
    )
    row = {"flavor": flavor_id, "nominal_cpu": "0", "nominal_memory_gib": "0", **row}
    if row.get("cohort") == "COHORT":
        row["cohort"] = str(cohort.pk)

    response = admin_client.post(f"/admin/core/project/{project.pk}/change/", _inline_post(project, **row))

    assert response.status_code == 200  # the form again, with the error
    assert message in response.content.decode()
    assert not ProjectQuota.objects.filter(project=project).exists()


def test_admin_rejects_gpus_on_a_cpu_only_flavor(admin_client, project):
    cpu = ProjectQuota._meta.get_field("flavor").related_model.objects.get(name="cpu")
    data = _inline_post(
        project, flavor=str(cpu.pk), nominal_gpus="4", nominal_cpu="8", nominal_memory_gib="32"
    )

    response = admin_client.post(f"/admin/core/project/{project.pk}/change/", data)

    assert "CPU only" in response.content.decode()
    assert not ProjectQuota.objects.filter(project=project).exists()


def test_staff_set_quotas_through_the_api(api, staff, admin_user, project):
    Cohort.objects.create(name="research")

    response = api(staff).put(
        "/api/projects/team-a/quotas/nvidia-a100-80gb/",
        {
            "nominal_gpus": 8,
            "nominal_cpu": "96",
            "nominal_memory_gib": "1360",
            "cohort": "research",
            "gpu_lending_limit": 4,
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    listed = api(admin_user).get("/api/projects/team-a/quotas/").json()
    zero = {"gpus": 0, "cpu": "0.000", "memory_gib": "0.000"}
    nominal = {"gpus": 8, "cpu": "96.000", "memory_gib": "1360.000"}
    assert listed == [
        {
            "project": "team-a",
            "flavor": "nvidia-a100-80gb",
            "cohort": "research",
            "nominal": nominal,
            "used": zero,
            "borrowed": zero,
            "free": nominal,  # the whole quota: nobody else is in the cohort to borrow from
            "borrowable": zero,
            "cohort_can_lend": zero,
            "borrowing_limit": {"gpus": None, "cpu": None, "memory_gib": None},
            "lending_limit": {"gpus": 4, "cpu": None, "memory_gib": None},
        }
    ]
    assert response.json() == listed[0]  # the write answers in the same shape
    assert ProjectQuota.objects.get(project=project).nominal_memory_gib == Decimal("1360")


@pytest.mark.parametrize(
    ("flavor", "body", "status", "field"),
    [
        ("nvidia-k9000", {"nominal_gpus": 1}, 404, "flavor"),
        ("nvidia-tesla-t4", {"nominal_gpus": -1}, 400, "nominal_gpus"),
        (
            "nvidia-tesla-t4",
            {"nominal_gpus": 2, "gpu_lending_limit": 3, "cohort": "research"},
            400,
            "gpu_lending_limit",
        ),
        ("nvidia-tesla-t4", {"nominal_gpus": 2, "cohort": "nope"}, 400, "cohort"),
    ],
)
def test_quota_api_names_the_bad_field(api, staff, project, flavor, body, status, field):
    Cohort.objects.create(name="research")

    response = api(staff).put(f"/api/projects/team-a/quotas/{flavor}/", body, format="json")

    assert response.status_code == status
    assert field in response.json()
    assert not ProjectQuota.objects.exists()


def test_only_staff_set_quotas(api, admin_user, project):
    response = api(admin_user).put(
        "/api/projects/team-a/quotas/nvidia-tesla-t4/", {"nominal_gpus": 99}, format="json"
    )

    assert response.status_code == 403
    assert not ProjectQuota.objects.exists()


def test_flavor_catalog_is_listed_with_accelerator_names(api, admin_user):
    flavors = {f["name"]: f for f in api(admin_user).get("/api/flavors/").json()}

    assert "NVIDIA_A100_80GB" in flavors["nvidia-a100-80gb"]["accelerator_types"]
    assert flavors["cpu"]["resource_name"] == ""
