"""Python packages the tests build: a wheel written as the wheel format says (pip installs it
offline with nothing else; building one needs the `wheel` package) and an sdist made by
`setup.py sdist`, as gcloud's --package-path does. Each holds one package of one module."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path


def wheel(folder: Path, package: str, module: str, source: str) -> Path:
    """`{package}-0.1-py3-none-any.whl` with `{package}.{module}` holding `source`."""
    info = f"{package}-0.1.dist-info"
    files = {
        f"{package}/__init__.py": b"",
        f"{package}/{module}.py": textwrap.dedent(source).encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for name, data in files.items()
    ]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{package}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def sdist(folder: Path, package: str, module: str, source: str) -> Path:
    """`{package}-0.1.tar.gz` with `{package}.{module}` holding `source`."""
    tree = folder / "source"
    (tree / package).mkdir(parents=True)
    (tree / package / "__init__.py").write_text("")
    (tree / package / f"{module}.py").write_text(textwrap.dedent(source))
    (tree / "setup.py").write_text(
        f"from setuptools import setup\nsetup(name='{package}', version='0.1', packages=['{package}'])\n"
    )
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(folder)],
        cwd=tree,
        check=True,
        capture_output=True,
    )
    return folder / f"{package}-0.1.tar.gz"


TRAINER_KEYS = (
    "packages/trainer-0.1.tar.gz",
    "packages/extra-1.0.tar.gz",
    "packages/utils-1.0-py3-none-any.whl",
    "trainer-0.1.tar.gz",
)


def uploaded(bucket: Path, *keys: str) -> None:
    """A real package (a wheel of `trainer.task`) at each key of a local bucket's folder, the
    tests' usual trainer URIs by default: a job names packages that exist."""
    built = wheel(bucket.parent / ".packages", "trainer", "task", "print('training')\n")
    for key in keys or TRAINER_KEYS:
        target = bucket.joinpath(*key.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)
