"""Fixtures and helpers of the operator tests (imported by the other test_operator_* modules).

The operator runs in-process (a thread with its own event loop) against the session's real
API server, authenticated as the chart's operator ServiceAccount (the chart's RBAC rendered
with ``helm template`` and applied), so anything the chart does not allow fails the test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sedna_operator.runtime.kubernetes.config import OperatorConfig
from sedna_operator.runtime.kubernetes.operator import OperatorThread
from tests.support.apiserver import ControlPlane

pytestmark = pytest.mark.apiserver

REPO = Path(__file__).resolve().parents[2]
RELEASE = "sedna-optest"
SYSTEM_NS = "sedna-optest"
SAMPLES = REPO.parent / "shared" / "conformance" / "sedna-crd-samples"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def sa_kubeconfig(kube: ControlPlane, sa: str, path: Path) -> Path:
    """A kubeconfig authenticating as ServiceAccount ``sa`` of the release namespace (a bound token)."""
    token = kube.kubectl("create", "token", sa, "-n", SYSTEM_NS, "--duration=3h").stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "t", "cluster": {"server": kube.url, "insecure-skip-tls-verify": True}}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": sa}}],
        "current-context": "t",
    }
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def chart_identities(kube: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Install the chart's ServiceAccounts and RBAC; kubeconfigs of the operator and the LC."""
    rendered = kube.helm(
        "template", RELEASE, str(REPO / "charts" / "sedna"), "--namespace", SYSTEM_NS,
        "--show-only", "templates/serviceaccounts.yaml",
        "--show-only", "templates/rbac-operator.yaml",
        "--show-only", "templates/rbac-lc.yaml",
    ).stdout  # fmt: skip
    kube.kubectl("create", "namespace", SYSTEM_NS, check=False)
    kube.kubectl("apply", "-f", "-", input=rendered)
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    names = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    out = tmp_path_factory.mktemp("identities")
    return {
        "operator": sa_kubeconfig(kube, f"{RELEASE}-operator", out / "operator.kubeconfig"),
        "lc": sa_kubeconfig(kube, f"{RELEASE}-lc", out / "lc.kubeconfig"),
        **({"kb": out} if f"{RELEASE}-kb" in names else {}),
    }


def operator_config(kubeconfig: Path, **overrides: Any) -> OperatorConfig:
    values: dict[str, Any] = {
        "kubeconfig": str(kubeconfig),
        "resync_seconds": 0,
        "retry_initial": 0.5,
        "retry_max": 5,
    }
    values.update(overrides)
    return OperatorConfig(**values)


@pytest.fixture(scope="module")
def operator(chart_identities: dict[str, Path]) -> Iterator[OperatorThread]:
    """One operator for the module, as the chart's ServiceAccount."""
    op = OperatorThread(operator_config(chart_identities["operator"])).start()
    try:
        yield op
    finally:
        op.stop()
    assert op.error is None, op.error


@pytest.fixture
def namespace(kube: ControlPlane) -> Iterator[str]:
    """A fresh namespace per test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def apply(kube: ControlPlane, namespace: str, manifest: str | dict[str, Any] | list[dict[str, Any]]) -> None:
    text = (
        manifest
        if isinstance(manifest, str)
        else yaml.safe_dump_all(manifest if isinstance(manifest, list) else [manifest])
    )
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=text)


def sample(name: str) -> dict[str, Any]:
    """One of Sedna's sample resources, without its namespace (tests pick theirs)."""
    doc = yaml.safe_load((SAMPLES / name).read_text())
    doc["metadata"].pop("namespace", None)
    return doc


def model(name: str, url: str = "/models/model.pb", fmt: str = "pb") -> dict[str, Any]:
    return {
        "apiVersion": "sedna.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {"url": url, "format": fmt},
    }


def dataset(name: str, node: str, url: str = "/data/train.txt") -> dict[str, Any]:
    return {
        "apiVersion": "sedna.io/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {"url": url, "format": "txt", "nodeName": node},
    }


def pods(kube: ControlPlane, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    args = ["get", "pods", "-n", namespace] + (["-l", selector] if selector else [])
    items: list[dict[str, Any]] = kube.kubectl_json(*args)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def set_pod_phase(
    kube: ControlPlane, namespace: str, name: str, phase: str, exit_code: int | None = None
) -> None:
    """What a kubelet would do: write the pod's status (there is no kubelet here)."""
    status: dict[str, Any] = {"phase": phase, "hostIP": "10.0.0.5"}
    if exit_code is not None:
        status["containerStatuses"] = [
            {
                "name": "c", "image": "x", "imageID": "", "ready": False, "restartCount": 0,
                "state": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}},
            }
        ]  # fmt: skip
    kube.request(
        "PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status", {"status": status},
        content_type="application/merge-patch+json",
    )  # fmt: skip


def env_of(pod: dict[str, Any], container: int = 0) -> dict[str, Any]:
    return {
        e["name"]: e.get("value", e.get("valueFrom"))
        for e in pod["spec"]["containers"][container].get("env", [])
    }


def events(kube: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.kubectl_json("get", "events", "-n", namespace)["items"]
    return [e for e in items if e["involvedObject"]["name"] == name]


def test_chart_identity_is_not_admin(kube: ControlPlane, chart_identities: dict[str, Path]) -> None:
    """The operator's kubeconfig really is the restricted ServiceAccount (a sanity check)."""
    env = {**kube.env(), "KUBECONFIG": str(chart_identities["operator"])}
    import subprocess

    from tests.support.apiserver import find_tool

    def can(*args: str) -> str:
        return subprocess.run(
            [find_tool("kubectl"), "auth", "can-i", *args], capture_output=True, text=True, env=env
        ).stdout.strip()

    assert can("create", "pods") == "yes"
    assert can("list", "secrets") == "no"
    assert can("create", "incrementallearningjobs.sedna.io") == "no"


def table(kube: ControlPlane, *args: str) -> list[dict[str, str]]:
    """``kubectl get`` printer columns as dicts (see ControlPlane.table)."""
    return kube.table(*args)


def kubelet_finish_deletions(kube: ControlPlane, namespace: str) -> None:
    """What a kubelet does for a pod being deleted: stop it and remove it (grace period 0)."""
    items = kube.kubectl_json("get", "pods", "-n", namespace)["items"]
    for pod in items:
        if pod["metadata"].get("deletionTimestamp"):
            kube.kubectl(
                "delete",
                "pod",
                pod["metadata"]["name"],
                "-n",
                namespace,
                "--grace-period=0",
                "--force",
                check=False,
            )


def finish_fl(kube: ControlPlane, namespace: str, name: str, workers: list[dict[str, Any]]) -> dict[str, Any]:
    """Play the kubelet: every FL worker exits 0; return the job once its phase is Succeeded."""
    for pod in workers:
        set_pod_phase(kube, namespace, pod["metadata"]["name"], "Succeeded", exit_code=0)
    return wait_for(
        lambda: (
            (j := kube.kubectl_json("get", "fl", name, "-n", namespace)).get("status", {}).get("phase") == "Succeeded"
            and j
        ),
        "phase Succeeded",
    )
