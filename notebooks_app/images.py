"""The notebook images seeded at install (admins edit the catalog in admin).

Both are Jupyter Docker Stacks images: they run as the non-root `jovyan` with the home at
/home/jovyan, and have `python` with JupyterLab on the PATH, which is all a notebook needs.
"""

# (name, image, description, GPU flavors only, default)
IMAGES = [
    (
        "jupyterlab",
        "quay.io/jupyter/scipy-notebook:2026-08-24",
        "JupyterLab with the scientific Python stack (NumPy, pandas, scikit-learn, matplotlib)",
        False,
        True,
    ),
    (
        "pytorch-cuda",
        "quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24",
        "JupyterLab with PyTorch built for CUDA 12",
        True,
        False,
    ),
]


def seed_images(NotebookImage, Flavor) -> None:  # noqa: N803 - model classes (historical ones in the migration)
    gpu_flavors = list(Flavor.objects.exclude(resource_name=""))
    for name, image, description, gpu_only, default in IMAGES:
        row, created = NotebookImage.objects.get_or_create(
            name=name, defaults={"image": image, "description": description, "is_default": default}
        )
        if created and gpu_only:
            row.flavors.set(gpu_flavors)
