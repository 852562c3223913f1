"""The server runs inside workloads, where the console is not: no module of it loads Django."""

from __future__ import annotations

import subprocess
import sys

from tests.prediction.servers import ROOT

CHECK = """
import importlib, pkgutil, sys
import prediction_app.serving as serving
for module in pkgutil.walk_packages(serving.__path__, "prediction_app.serving."):
    importlib.import_module(module.name)
loaded = sorted(name for name in sys.modules if name == "django" or name.startswith("django."))
print(",".join(loaded) or "none")
"""


def test_the_serving_package_never_imports_django():
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin"},
    )
    assert done.stdout.strip() == "none"
