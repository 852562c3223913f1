"""The model's files and its routine's packages, fetched as trainer packages are (the same code)."""

from __future__ import annotations

import sys
from pathlib import Path

# The trainer runtime's fetching and offline pip: one file of the standard library, no Django.
from training_app.runtime import trainer


class ModelError(Exception):
    """The model cannot be loaded: the server says why and exits with code 3."""


def model_folder(uri: str, work: Path) -> Path:
    """A local folder with the version's files: `uri` itself when it is an absolute folder, else
    the folder in a local bucket or a download of gs://bucket/prefix or s3://bucket/prefix."""
    if not uri:
        raise ModelError("AIP_STORAGE_URI is not set: it names the folder of the model's files")
    if uri.startswith("/"):
        if not Path(uri).is_dir():
            raise ModelError(f"the model folder {uri} does not exist")
        return Path(uri)
    try:
        return trainer.fetch_folder(uri, work / "model")
    except trainer.RunnerError as exc:
        raise ModelError(str(exc)) from None


def install_packages(uris: tuple[str, ...], work: Path) -> Path | None:
    """Installs the routine's packages (sdists or wheels) into a folder of their own, put first on
    sys.path, never into the server's environment; None when there are none."""
    if not uris:
        return None
    target = work / "packages"
    try:
        files = [
            Path(uri) if uri.startswith("/") else trainer.fetch(uri, work / "downloads" / str(i))
            for i, uri in enumerate(uris)
        ]
        missing = [str(path) for path in files if not path.is_file()]
        if missing:
            raise ModelError(f"package {missing[0]} does not exist")
        trainer.pip_install(sys.executable, files, "--target", str(target))
    except trainer.RunnerError as exc:
        raise ModelError(str(exc)) from None
    sys.path.insert(0, str(target))
    return target
