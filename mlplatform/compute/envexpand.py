"""Kubernetes `$(VAR)` expansion, as the kubelet applies it to a container's env, command and args.

`$(NAME)` becomes the value of NAME where the mapping has it and stays as written where it does
not; `$$` is an escaped `$`, so `$$(NAME)` is the literal `$(NAME)`. A port of
k8s.io/kubernetes/third_party/forked/golang/expansion, so a spec means the same on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping

OPERATOR = "$"
OPENER = "("
CLOSER = ")"


def expand(value: str, env: Mapping[str, str]) -> str:
    """`value` with every `$(NAME)` that `env` defines replaced; never fails."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(value):
        if value[cursor] == OPERATOR and cursor + 1 < len(value):
            out.append(value[checkpoint:cursor])
            text, is_name, advance = _read_name(value[cursor + 1 :])
            out.append((env[text] if text in env else _wrap(text)) if is_name else text)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(value[checkpoint:])
    return "".join(out)


def expand_all(values: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """Env values in order, each expanded against `env` plus the ones before it (the kubelet's way)."""
    known = dict(env)
    for name, value in values.items():
        known[name] = expand(value, known)
    return {name: known[name] for name in values}


def _wrap(name: str) -> str:
    return f"{OPERATOR}{OPENER}{name}{CLOSER}"


def _read_name(rest: str) -> tuple[str, bool, int]:
    """What follows a `$`: (text, whether it is a variable name, characters consumed)."""
    if rest[0] == OPERATOR:
        return OPERATOR, False, 1
    if rest[0] == OPENER:
        closer = rest.find(CLOSER, 1)
        if closer != -1:
            return rest[1:closer], True, closer + 1
        return OPERATOR + OPENER, False, 1  # an unterminated reference stays as written
    return OPERATOR + rest[0], False, 1
