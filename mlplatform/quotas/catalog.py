"""The GPU catalog a fresh install starts with: flavors, Google accelerator names, and the
AI Platform machine types. The data migration seeds it; admins edit it in Django admin.
"""

from decimal import Decimal as D  # noqa: N817 - keeps the tables below readable

GPU_TOLERATION = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]

# name, display name, nvidia.com/gpu.product label, GPU memory, vCPUs and GiB per GPU, price per GPU-hour
FLAVORS = [
    ("nvidia-tesla-t4", "NVIDIA T4 16GB", "Tesla-T4", 16, 4, 16, "0.35"),
    ("nvidia-l4", "NVIDIA L4 24GB", "NVIDIA-L4", 24, 8, 32, "0.70"),
    ("nvidia-tesla-v100", "NVIDIA V100 16GB", "Tesla-V100-SXM2-16GB", 16, 8, 48, "2.48"),
    ("nvidia-a100-40gb", "NVIDIA A100 40GB", "NVIDIA-A100-SXM4-40GB", 40, 12, 85, "2.93"),
    ("nvidia-a100-80gb", "NVIDIA A100 80GB", "NVIDIA-A100-SXM4-80GB", 80, 12, 170, "3.93"),
    ("nvidia-h100-80gb", "NVIDIA H100 80GB", "NVIDIA-H100-80GB-HBM3", 80, 26, 234, "9.80"),
    ("nvidia-h200-141gb", "NVIDIA H200 141GB", "NVIDIA-H200", 141, 28, 256, "10.60"),
]

# Google's accelerator names (ml v1 and notebooks v2 enums) and the flavor each means here.
ACCELERATORS = {
    "NVIDIA_TESLA_T4": "nvidia-tesla-t4",
    "NVIDIA_L4": "nvidia-l4",
    "NVIDIA_TESLA_V100": "nvidia-tesla-v100",
    "NVIDIA_TESLA_A100": "nvidia-a100-40gb",
    "NVIDIA_A100_80GB": "nvidia-a100-80gb",
    "NVIDIA_H100_80GB": "nvidia-h100-80gb",
    "NVIDIA_H200_141GB": "nvidia-h200-141gb",
}


def machine_types():
    """(name, kind, vCPUs, GiB, flavor, GPUs, workers, parameter servers, description)"""
    for n in (2, 4, 8, 16, 32, 64, 96):
        yield f"n1-standard-{n}", "compute_engine", n, D("3.75") * n, "cpu", 0, 0, 0, ""
    for n in (2, 4, 8, 16, 32, 64, 96):
        yield f"n1-highmem-{n}", "compute_engine", n, D("6.5") * n, "cpu", 0, 0, 0, ""
    for n in (2, 4, 8, 16, 32, 64, 96):
        yield f"n1-highcpu-{n}", "compute_engine", n, D("0.9") * n, "cpu", 0, 0, 0, ""
    for g in (1, 2, 4, 8):
        yield f"a2-highgpu-{g}g", "compute_engine", 12 * g, 85 * g, "nvidia-a100-40gb", g, 0, 0, ""
        yield f"a2-ultragpu-{g}g", "compute_engine", 12 * g, 170 * g, "nvidia-a100-80gb", g, 0, 0, ""
        yield f"a3-highgpu-{g}g", "compute_engine", 26 * g, 234 * g, "nvidia-h100-80gb", g, 0, 0, ""
    yield "a2-megagpu-16g", "compute_engine", 96, 1360, "nvidia-a100-40gb", 16, 0, 0, ""
    for n, gpus in ((4, 1), (8, 1), (16, 1), (32, 1), (24, 2), (48, 4), (96, 8)):
        yield f"g2-standard-{n}", "compute_engine", n, 4 * n, "nvidia-l4", gpus, 0, 0, ""
    # AI Platform Prediction's own (legacy, MLS1) types; a version that names none gets mls1-c1-m2.
    yield "mls1-c1-m2", "prediction", 1, 2, "cpu", 0, 0, 0, "Online prediction only."
    yield "mls1-c4-m2", "prediction", 4, 2, "cpu", 0, 0, 0, "Online prediction only."
    legacy_note = "K80 and P100 are retired: served by T4."
    yield "standard", "legacy", 4, 15, "cpu", 0, 0, 0, ""
    yield "large_model", "legacy", 8, 52, "cpu", 0, 0, 0, ""
    yield "complex_model_s", "legacy", 8, D("7.2"), "cpu", 0, 0, 0, ""
    yield "complex_model_m", "legacy", 16, D("14.4"), "cpu", 0, 0, 0, ""
    yield "complex_model_l", "legacy", 32, D("28.8"), "cpu", 0, 0, 0, ""
    yield "standard_gpu", "legacy", 8, 30, "nvidia-tesla-t4", 1, 0, 0, legacy_note
    yield "complex_model_m_gpu", "legacy", 16, 60, "nvidia-tesla-t4", 4, 0, 0, legacy_note
    yield "complex_model_l_gpu", "legacy", 32, 120, "nvidia-tesla-t4", 8, 0, 0, legacy_note
    yield "standard_p100", "legacy", 8, 30, "nvidia-tesla-t4", 1, 0, 0, legacy_note
    yield "complex_model_m_p100", "legacy", 16, 60, "nvidia-tesla-t4", 4, 0, 0, legacy_note
    yield "standard_v100", "legacy", 8, 30, "nvidia-tesla-v100", 1, 0, 0, ""
    yield "large_model_v100", "legacy", 8, 52, "nvidia-tesla-v100", 1, 0, 0, ""
    yield "complex_model_m_v100", "legacy", 16, 60, "nvidia-tesla-v100", 4, 0, 0, ""
    yield "complex_model_l_v100", "legacy", 32, 120, "nvidia-tesla-v100", 8, 0, 0, ""
    yield "BASIC", "scale_tier", 4, 15, "cpu", 0, 0, 0, "A single worker (n1-standard-4)."
    yield "BASIC_GPU", "scale_tier", 8, 30, "nvidia-tesla-t4", 1, 0, 0, "A single worker with one GPU."
    yield (
        "STANDARD_1",
        "scale_tier",
        8,
        D("7.2"),
        "cpu",
        0,
        4,
        3,
        "A master, 4 workers and 3 parameter servers.",
    )
    yield (
        "PREMIUM_1",
        "scale_tier",
        16,
        D("14.4"),
        "cpu",
        0,
        19,
        11,
        "A master, 19 workers and 11 parameter servers.",
    )


def seed_catalog(Flavor, AcceleratorType, MachineType) -> None:  # noqa: N803 - model classes
    """Create the catalog with the given model classes (historical ones in the migration)."""
    flavors = {
        "cpu": Flavor.objects.create(
            name="cpu",
            display_name="CPU only",
            resource_name="",
            cpu_per_gpu=0,
            memory_gib_per_gpu=0,
            hourly_price=D("0.04"),
        )
    }
    for name, title, product, gpu_memory, cpu, memory, price in FLAVORS:
        flavors[name] = Flavor.objects.create(
            name=name,
            display_name=title,
            resource_name="nvidia.com/gpu",
            gpu_memory_gib=gpu_memory,
            node_selector={"nvidia.com/gpu.product": product},
            tolerations=GPU_TOLERATION,
            cpu_per_gpu=cpu,
            memory_gib_per_gpu=memory,
            hourly_price=D(price),
        )
    for name, flavor in ACCELERATORS.items():
        AcceleratorType.objects.create(name=name, flavor=flavors[flavor])
    add_machine_types(Flavor, MachineType)


def add_machine_types(Flavor, MachineType, names=None) -> None:  # noqa: N803 - model classes
    """Create those of the catalog's machine types (or of `names`) that are missing: all of them on
    a fresh install, a later migration's additions on one seeded before them; what an admin
    changed stays as it is."""
    flavors = {flavor.name: flavor for flavor in Flavor.objects.all()}
    existing = set(MachineType.objects.values_list("name", flat=True))
    for name, kind, vcpus, memory, flavor, gpus, workers, ps, description in machine_types():
        if (names is None or name in names) and flavor in flavors and name not in existing:
            MachineType.objects.create(
                name=name,
                kind=kind,
                vcpus=vcpus,
                memory_gib=memory,
                flavor=flavors[flavor],
                gpu_count=gpus,
                worker_count=workers,
                parameter_server_count=ps,
                description=description,
            )
