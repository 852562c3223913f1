"""The import graph runs one way: core < quotas < storage < compute < gcp < the apps < console.

Read from the source (every import, module level or inside a function), so a new import that
breaks a layer fails here with the file and line, before it grows into a cycle."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mlplatform", "notebooks_app", "training_app", "prediction_app", "distributed_app")

# What each part of the code may import of the project (itself always).
CORE = ("mlplatform.core",)
BELOW_APPS = (*CORE, "mlplatform.quotas", "mlplatform.storage", "mlplatform.compute", "mlplatform.gcp")
ALLOWED = {
    "mlplatform.core": CORE,
    "mlplatform.quotas": CORE,
    "mlplatform.storage": (*CORE, "mlplatform.quotas"),
    "mlplatform.compute": (*CORE, "mlplatform.quotas", "mlplatform.storage"),
    "mlplatform.gcp": (*CORE, "mlplatform.quotas", "mlplatform.storage", "mlplatform.compute"),
    "notebooks_app": BELOW_APPS,
    "training_app": BELOW_APPS,
    "prediction_app": (*BELOW_APPS, "training_app"),  # batch prediction jobs are jobs
    "distributed_app": BELOW_APPS,
}
BACKENDS = "mlplatform.compute.backends"  # compute's own: apps reach them through its services


@dataclass(frozen=True)
class Import:
    path: str
    line: int
    module: str
    in_function: bool
    explained: bool  # a comment says why it is where it is


def _part(module: str) -> str | None:
    """The layer a module belongs to; None for the project's own top (settings, urls, asgi, ...)
    and for the console, which sits above everything."""
    for part in ALLOWED:
        if module == part or module.startswith(part + "."):
            return part
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[Import]:
    source = path.read_text()
    lines = source.splitlines()
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                if name.split(".")[0] in PACKAGES:
                    found.append(Import(str(path.relative_to(ROOT)), child.lineno, name, in_function, False))
            visit(child, inner)

    visit(ast.parse(source), False)
    explained = []
    for imp in found:
        # A comment on its line, or above the block of imports it opens, says why.
        line = imp.line - 1
        while line > 0 and lines[line - 1].strip().startswith(("from ", "import ")):
            line -= 1
        reason = "#" in lines[imp.line - 1] or (line > 0 and lines[line - 1].strip().startswith("#"))
        explained.append(Import(imp.path, imp.line, imp.module, imp.in_function, reason))
    return explained


def _project_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


IMPORTS = [(path, imp) for path in _project_files() for imp in _imports(path)]


def _where(imp: Import) -> str:
    return f"{imp.path}:{imp.line} imports {imp.module}"


def test_every_layer_imports_only_the_layers_below_it():
    wrong = []
    for path, imp in IMPORTS:
        part = _part(_module_name(path))
        if part is None:
            continue  # the project's top (settings, URLs, ASGI) and the console import anything
        if imp.module.startswith("mlplatform.console"):
            wrong.append(_where(imp))  # nothing below the console knows it
            continue
        target = _part(imp.module)
        if target is not None and target != part and target not in ALLOWED[part]:
            wrong.append(_where(imp))
    assert wrong == []


def test_apps_never_import_a_backend():
    wrong = [
        _where(imp)
        for path, imp in IMPORTS
        if _part(_module_name(path)) in ("notebooks_app", "training_app", "prediction_app")
        and imp.module.startswith(BACKENDS)
    ]
    assert wrong == []


def test_imports_inside_functions_say_why():
    unexplained = [_where(imp) for _, imp in IMPORTS if imp.in_function and not imp.explained]
    assert unexplained == []


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("mlplatform.core.views", "mlplatform.quotas.selectors", False),
        ("mlplatform.quotas.selectors", "mlplatform.compute.selectors", False),
        ("mlplatform.compute.services", "mlplatform.storage.wiring", True),
        ("notebooks_app.views", "training_app.models", False),
        ("prediction_app.services", "training_app.jobs", True),
    ],
)
def test_the_rule_itself(module, target, allowed):
    # The check above would catch these (and lets these through)
    part, other = _part(module), _part(target)
    assert (other == part or other in ALLOWED[part]) is allowed
