"""Kubernetes `$(VAR)` expansion: the cases of the kubelet's own expansion tests."""

from __future__ import annotations

import pytest

from mlplatform.compute.envexpand import expand, expand_all

ENV = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}


@pytest.mark.parametrize(
    ("value", "expanded"),
    [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_A)-$(VAR_A)", "A-A"),
        ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
        ("foo\\$(VAR_C)bar", "foo\\Cbar"),
        ("$(VAR_EMPTY)", ""),
        ("no references", "no references"),
        ("", ""),
        # Unknown names and broken references stay as written.
        ("$(VAR_DNE)", "$(VAR_DNE)"),
        ("$()", "$()"),
        ("$(VAR_A", "$(VAR_A"),
        ("$(VAR_A)$(VAR_B", "A$(VAR_B"),
        ("$(", "$("),
        ("$VAR_A", "$VAR_A"),
        ("$(VAR_A)$", "A$"),
        ("$", "$"),
        # `$$` escapes a `$`.
        ("$$(VAR_B)$(VAR_A)", "$(VAR_B)A"),
        ("f000-$$VAR_A", "f000-$VAR_A"),
        ("$$", "$"),
        ("$$$", "$$"),
        ("$$$$", "$$"),
        ("$$$(VAR_A)", "$A"),
        ("$$$$(VAR_A)", "$$(VAR_A)"),
        # One pass: a value that itself holds a reference is not expanded again.
        ("$(VAR_REF)", "$(VAR_A)"),
    ],
)
def test_expand_follows_the_kubelet(value, expanded):
    assert expand(value, ENV) == expanded


def test_expand_all_sees_only_the_variables_before_each_one():
    values = {"FIRST": "$(VAR_A)1", "SECOND": "$(FIRST)-$(THIRD)", "THIRD": "3", "VAR_A": "again-$(VAR_A)"}

    assert expand_all(values, ENV) == {
        "FIRST": "A1",
        "SECOND": "A1-$(THIRD)",
        "THIRD": "3",
        "VAR_A": "again-A",
    }
