"""The predictor image's Dockerfile, read (no docker daemon here): what it copies, installs and runs."""

from __future__ import annotations

import ast
import json
import re
import sys

from tests.prediction.servers import ROOT

DOCKERFILE = ROOT / "docker" / "predictor" / "Dockerfile"
REQUIREMENTS = ROOT / "docker" / "predictor" / "requirements.txt"
SERVING = ROOT / "prediction_app" / "serving"


def _instructions(name: str) -> list[str]:
    return re.findall(rf"^{name} (.+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)


def _names(text: str) -> set[str]:
    lines = (line.split("#")[0].strip() for line in text.splitlines())
    return {re.split(r"[\[=<>]", line)[0].lower().replace("_", "-") for line in lines if line}


def test_it_runs_the_server_as_non_root_on_8080():
    assert json.loads(_instructions("CMD")[0]) == ["python", "-m", "prediction_app.serving"]
    assert _instructions("EXPOSE") == ["8080"]
    users = _instructions("USER")  # the tensorflow stage is root only while it installs
    assert users[0] == users[-1] == "10001:10001"
    assert _instructions("FROM")[-1] == "base AS predictor"  # the default target has no TensorFlow


def test_it_copies_every_project_module_the_server_imports():
    copied = " ".join(_instructions("COPY"))
    imported = set()
    for path in SERVING.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0].endswith("_app"):
                imported.add(node.module)
    assert imported == {
        "prediction_app.serving",  # the batch worker's `from prediction_app.serving import objects`
        "prediction_app.serving.app",
        "prediction_app.serving.batching",
        "prediction_app.serving.models",
        "prediction_app.serving.settings",
        "prediction_app.serving.storage",
        "training_app.runtime",
    }
    assert "prediction_app/serving/" in copied
    assert "training_app/runtime/trainer.py" in copied
    assert "mlplatform/" not in copied  # the console stays out


def test_what_it_installs_is_pinned_in_the_lock():
    pinned = _names((ROOT / "requirements.lock").read_text())
    assert _names(REQUIREMENTS.read_text()) <= pinned


def test_the_third_party_modules_the_server_imports_are_installed_by_it():
    # import name: distribution (botocore comes with boto3, google.* with google-cloud-storage)
    distributions = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu", "botocore": "boto3"}
    distributions["google"] = "google-cloud-storage"
    distributions["tensorboardX"] = "tensorboardx"  # pip names are case-insensitive
    found = set()
    for path in [*SERVING.glob("*.py"), ROOT / "training_app" / "runtime" / "trainer.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            found.update(module.split(".")[0] for module in modules)
    third_party = found - set(sys.stdlib_module_names) - {"prediction_app", "training_app", "tensorflow"}
    wanted = {distributions.get(name, name) for name in third_party}
    assert wanted <= _names(REQUIREMENTS.read_text())
