"""The real control plane the `cluster` tests run on, as a pytest plugin: the session fixture
`control_plane` (see `controlplane`), built on first use by `build.sh` into a cache outside the work
tree (about 20 minutes on 2 cores the first time, nothing after).

Every `cluster` test joins one xdist group, so under `pytest -n N --dist loadgroup` one worker
starts the control plane. MLPLATFORM_SKIP_CONTROL_PLANE=1 skips them (unless KUBECONFIG names a
cluster of your own for the tests that take any cluster), and so does a machine without Go.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster.controlplane import ControlPlane, GoMissing, build_binaries

SKIP_VARIABLE = "MLPLATFORM_SKIP_CONTROL_PLANE"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory) -> Iterator[ControlPlane]:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok with GPU nodes, for
    the whole session; skips where MLPLATFORM_SKIP_CONTROL_PLANE=1 or Go is missing."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: the real control plane (tests/cluster/) is not started")
    try:
        bin_dir = build_binaries()
    except GoMissing as exc:
        pytest.skip(str(exc))
    with ControlPlane(bin_dir, tmp_path_factory.mktemp("cluster")) as plane:
        yield plane


@pytest.fixture(scope="session")
def control_plane_client(control_plane):
    """A `kubernetes.client.ApiClient` for the control plane, as its admin."""
    client = control_plane.api_client()
    yield client
    client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.xdist_group("cluster"))
