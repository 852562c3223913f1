"""The runtime versions seeded at install (admins edit them in admin)."""

# (runtimeVersion, pythonVersion, image, description, default)
RUNTIMES = [
    ("", "", "python:3.11-slim", "Default: Python 3.11", True),
    ("2.11", "3.7", "python:3.7-slim", "AI Platform runtime 2.11", False),
    ("2.8", "3.7", "python:3.7-slim", "AI Platform runtime 2.8", False),
    ("2.1", "3.7", "python:3.7-slim", "AI Platform runtime 2.1", False),
]


def seed_runtimes(RuntimeVersion) -> None:  # noqa: N803 - a model class (a historical one in the migration)
    for runtime, python, image, description, default in RUNTIMES:
        RuntimeVersion.objects.get_or_create(
            runtime_version=runtime,
            python_version=python,
            defaults={"image": image, "description": description, "is_default": default},
        )
