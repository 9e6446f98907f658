"""Issue 11 item 3 on the real API server: the LC DaemonSet's loops, running as the chart's LC
identity (RBAC: `get` on the named Secret, never `list`), count a Dataset whose index is on the
S3 server and follow it as it grows, with no key in status or events."""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from test_operator_fixtures are parameters here)
from pathlib import Path

import pytest

from tests.kube.test_operator_fixtures import (  # noqa: F401  (fixtures)
    apply,
    chart_identities,
    events,
    namespace,
    wait_for,
)
from tests.kube.test_operator_learning import NodeLC, get
from tests.s3.conftest import S3Server
from tests.support.apiserver import ControlPlane

pytestmark = pytest.mark.apiserver


def _index(lines: int) -> bytes:
    return "".join(f"images/{i:04d}.jpg {i % 4}\n" for i in range(lines)).encode()


def test_the_cluster_lc_counts_and_follows_an_s3_index(
    kube: ControlPlane, chart_identities: dict[str, Path], namespace: str, s3: S3Server, tmp_path: Path
) -> None:
    url = s3.put("cluster/train/index.txt", _index(12))
    dataset = {
        "apiVersion": "sedna.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "s3-dataset"},
        "spec": {"url": url, "format": "txt", "nodeName": "s3-node", "credentialName": "s3-credential"},
    }  # fmt: skip
    apply(kube, namespace, [s3.secret_manifest(), dataset])
    lc = chart_identities["lc"]
    with NodeLC(lc, "s3-node", tmp_path / "rootfs", tmp_path / "spool") as node_lc:

        def counted(n: int) -> bool:
            return (get(kube, "dataset", "s3-dataset", namespace).get("status") or {}).get("numberOfSamples") == n

        wait_for(lambda: counted(12), "the LC counting the s3 index", timeout=60)
        s3.put("cluster/train/index.txt", _index(30))  # the index grows, as an edge site appends
        wait_for(lambda: counted(30), "the LC following the s3 index", timeout=60)
        assert node_lc.error is None
    # the LC read the Secret with its own identity; it may get that Secret, never list them
    can = kube.kubectl("auth", "can-i", "--kubeconfig", str(lc), "-n", namespace, "list", "secrets", check=False)
    assert can.stdout.strip() == "no"
    status = str(get(kube, "dataset", "s3-dataset", namespace))
    said = str(events(kube, namespace, "s3-dataset"))
    for key in (s3.access_key, s3.secret_key):
        assert key not in status and key not in said
