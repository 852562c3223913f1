"""Management commands admins script with: create_project and bootstrap."""

from collections import Counter

import pytest
import redis
from django.core.management import CommandError, call_command

from mlplatform.console.management.commands import bootstrap
from mlplatform.core.management.commands import runconsole
from mlplatform.core.models import Membership, Project, Role
from mlplatform.quotas.inventory import flavor_for_product
from mlplatform.quotas.models import ProjectQuota
from mlplatform.storage.models import StorageConnection
from tests.factories import UserFactory


def test_create_project_makes_the_owner_its_admin(db, capsys):
    UserFactory(username="bob")

    call_command("create_project", "nlp", "--owner", "bob", "--display-name", "NLP team")

    project = Project.objects.get(slug="nlp")
    assert project.display_name == "NLP team"
    assert Membership.objects.get(project=project).role == Role.ADMIN
    assert "nlp" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [(["Bad_Slug", "--owner", "bob"], "slug"), (["ok", "--owner", "nobody"], "nobody")],
)
def test_create_project_refuses_bad_input(db, args, message):
    UserFactory(username="bob")

    with pytest.raises(CommandError, match=message):
        call_command("create_project", *args)
    assert not Project.objects.exists()


def test_create_project_refuses_a_duplicate(db):
    UserFactory(username="bob")
    call_command("create_project", "nlp", "--owner", "bob")

    with pytest.raises(CommandError, match="already exists"):
        call_command("create_project", "nlp", "--owner", "bob")


def test_bootstrap_gives_the_admin_a_generous_demo_project_and_can_run_again(
    db, monkeypatch, capsys, settings, tmp_path
):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    # This machine has no GPU: nvidia-smi's answer is the one thing stood in for.
    monkeypatch.setattr(bootstrap, "detect_gpus", lambda: Counter({"nvidia-a100-80gb": 2}))
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "s3cret-pass")

    call_command("bootstrap")
    call_command("bootstrap")

    demo = Project.objects.get(slug="demo")
    membership = Membership.objects.get(project=demo)
    assert (membership.user.username, membership.role) == ("root", Role.ADMIN)
    assert membership.user.is_superuser
    assert membership.user.check_password("s3cret-pass")
    cpu = ProjectQuota.objects.get(project=demo, flavor__name="cpu")
    assert cpu.nominal_cpu >= 64
    assert cpu.nominal_memory_gib >= 256
    gpu = ProjectQuota.objects.get(project=demo, flavor__name="nvidia-a100-80gb")
    assert gpu.nominal_gpus == 2
    assert "login: root / s3cret-pass" in capsys.readouterr().out
    local = StorageConnection.objects.get(project=demo)
    assert (local.kind, local.default_uri, local.is_default) == ("local", "gs://demo/", True)
    assert (settings.STORAGE_LOCAL_ROOT / "demo").is_dir()


@pytest.mark.parametrize(
    ("product", "flavor"),
    [
        ("NVIDIA A100-SXM4-80GB", "nvidia-a100-80gb"),
        ("NVIDIA A100-PCIE-40GB", "nvidia-a100-40gb"),
        ("NVIDIA H100 80GB HBM3", "nvidia-h100-80gb"),
        ("NVIDIA H200", "nvidia-h200-141gb"),
        ("Tesla T4", "nvidia-tesla-t4"),
        ("NVIDIA GeForce RTX 4090", "nvidia-gpu"),
    ],
)
def test_gpus_found_by_nvidia_smi_map_to_catalog_flavors(product, flavor):
    assert flavor_for_product(product) == flavor


def test_bootstrap_again_keeps_what_an_admin_changed(db, monkeypatch, capsys, settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path / "buckets"
    settings.DATA_DIR = tmp_path
    # This machine has no GPU: nvidia-smi's answer is the one thing stood in for.
    monkeypatch.setattr(bootstrap, "detect_gpus", lambda: Counter({"nvidia-a100-80gb": 2}))
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("bootstrap")
    demo = Project.objects.get(slug="demo")
    # an admin lowers the demo's quotas in Django admin and changes the generated password
    ProjectQuota.objects.filter(project=demo, flavor__name="cpu").update(
        nominal_cpu=16, nominal_memory_gib=64
    )
    ProjectQuota.objects.filter(project=demo, flavor__name="nvidia-a100-80gb").update(nominal_gpus=1)
    admin = Membership.objects.get(project=demo).user
    admin.set_password("chosen-by-the-admin")
    admin.save()
    capsys.readouterr()

    call_command("bootstrap")  # `make run` again

    cpu = ProjectQuota.objects.get(project=demo, flavor__name="cpu")
    assert (cpu.nominal_cpu, cpu.nominal_memory_gib) == (16, 64)
    assert ProjectQuota.objects.get(project=demo, flavor__name="nvidia-a100-80gb").nominal_gpus == 1
    admin.refresh_from_db()
    assert admin.check_password("chosen-by-the-admin")
    out = capsys.readouterr().out
    assert "demo quota: 16 vCPUs, 64 GiB, GPUs: {'nvidia-a100-80gb': 1}" in out
    assert "with the password set since" in out


def test_the_embedded_redis_of_runconsole_lives_in_data_dir_where_settings_look(settings, tmp_path):
    # settings' default REDIS_URL, without REDIS_URL set, is unix://DATA_DIR/redis.sock
    settings.DATA_DIR = tmp_path

    broker = runconsole.Command()._embedded_redis()
    try:
        broker.set("queued", "task")
        broker.save()
        reached = redis.Redis(unix_socket_path=str(tmp_path / "redis.sock")).get("queued")
    finally:
        runconsole.Command()._stop_embedded_redis(broker)

    assert reached == b"task"
    assert (tmp_path / "broker.rdb").exists()  # what the next run starts from
