"""No pattern in the code ends in `$`: `$` also matches before a trailing newline, so `^[a-z]+$`
accepts "job\\n". Patterns end in `\\Z` (or are used with fullmatch) instead.

Read from the source: every string literal passed to `re.compile`, `re.match`, `re.search`,
`re.fullmatch` or a DRF/Django regex field or validator, with the file and line of each offender."""

from __future__ import annotations

import ast

from tests.test_layers import PACKAGES, ROOT

CALLS = {"compile", "match", "search", "fullmatch", "RegexField", "RegexValidator"}
KNOWN: set[str] = set()


def _dollar_anchored() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = str(path.relative_to(ROOT))
            if "migrations" in path.parts or relative in KNOWN:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
                if isinstance(node, ast.Call) and _called(node) in CALLS and _ends_in_dollar(node):
                    found.append(f"{relative}:{node.lineno} {node.args[0].value!r}")
    return found


def _called(node: ast.Call) -> str:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


def _ends_in_dollar(node: ast.Call) -> bool:
    pattern = node.args[0] if node.args else None
    if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, str)):
        return False
    return pattern.value.endswith("$") and not pattern.value.endswith("\\$")


def test_no_pattern_is_anchored_with_a_dollar():
    assert _dollar_anchored() == []
