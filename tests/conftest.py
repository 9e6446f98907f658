"""Shared fixtures. The real control plane is session-scoped: started once, stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apiserver import ControlPlane, start_control_plane

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = REPO.parent / "shared" / "conformance" / "sedna-crd-samples"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.fail(f"Sedna's samples are expected in {CONFORMANCE} (the shared/ folder beside the repo)")
    return CONFORMANCE


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, with the sedna CRDs installed."""
    cp = start_control_plane(tmp_path_factory.mktemp("kube"))
    try:
        cp.kubectl("apply", "-f", str(REPO / "crds"))
        cp.kubectl("wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/part-of=sedna", "--timeout=60s")
        yield cp
    finally:
        cp.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the real-node tier and run it after every other tier (it is the slowest, and a
    failure elsewhere should show first)."""
    node_dir = REPO / "tests" / "node"
    for item in items:
        if node_dir in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.node)
    items.sort(key=lambda item: item.get_closest_marker("node") is not None)
