"""Tier 3: the chart installs on a real API server, and its RBAC is least-privilege."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.apiserver import ControlPlane

pytestmark = pytest.mark.apiserver

REPO = Path(__file__).resolve().parents[2]
RELEASE = "sedna"
NS = "sedna-system"


@pytest.fixture(scope="module")
def installed(kube: ControlPlane) -> list[dict]:
    kube.helm("install", RELEASE, str(REPO / "charts" / "sedna"), "--namespace", NS, "--create-namespace")
    rendered = kube.helm("get", "manifest", RELEASE, "--namespace", NS).stdout
    return [d for d in yaml.safe_load_all(rendered) if d]


def test_helm_lint_is_clean(kube: ControlPlane) -> None:
    out = kube.helm("lint", "--strict", str(REPO / "charts" / "sedna"))
    assert "0 chart(s) failed" in out.stdout


def test_every_object_of_the_release_exists(kube: ControlPlane, installed: list[dict]) -> None:
    kinds = {d["kind"] for d in installed}
    assert {"Deployment", "DaemonSet", "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
    for doc in installed:
        ns_args = ["--namespace", doc["metadata"].get("namespace", NS)] if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding") else []
        got = kube.kubectl_json("get", doc["kind"].lower(), doc["metadata"]["name"], *ns_args)
        assert got["metadata"]["name"] == doc["metadata"]["name"]
        assert got["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    status = kube.helm("status", RELEASE, "--namespace", NS).stdout
    assert "STATUS: deployed" in status


def _sa(installed: list[dict], component: str) -> str:
    for doc in installed:
        if doc["kind"] == "ServiceAccount" and doc["metadata"]["name"].endswith(component):
            return f"system:serviceaccount:{NS}:{doc['metadata']['name']}"
    raise AssertionError(f"no ServiceAccount for {component}")


def _can(kube: ControlPlane, user: str, verb: str, resource: str, *extra: str) -> bool:
    resource, _, sub = resource.partition("/")
    sub_args = [f"--subresource={sub}"] if sub else []
    proc = kube.kubectl("auth", "can-i", verb, resource, *sub_args, *extra, as_user=user, check=False)
    return proc.stdout.strip() == "yes"


@pytest.mark.parametrize(
    ("component", "verb", "resource", "allowed"),
    [
        ("operator", "create", "pods", True),
        ("operator", "delete", "pods", True),
        ("operator", "create", "services", True),
        ("operator", "patch", "incrementallearningjobs.sedna.io/status", True),
        ("operator", "watch", "jointinferenceservices.sedna.io", True),
        ("operator", "create", "events", True),
        ("operator", "get", "secrets", True),
        ("operator", "list", "secrets", False),
        ("operator", "delete", "namespaces", False),
        ("operator", "create", "clusterroles.rbac.authorization.k8s.io", False),
        ("lc", "patch", "incrementallearningjobs.sedna.io/status", True),
        ("lc", "patch", "datasets.sedna.io/status", True),
        ("lc", "get", "models.sedna.io", True),
        ("lc", "create", "pods", False),
        ("lc", "delete", "pods", False),
        ("lc", "patch", "incrementallearningjobs.sedna.io", False),
        ("lc", "get", "secrets", True),
        ("lc", "list", "secrets", False),
        ("kb", "get", "pods", False),
        ("kb", "list", "datasets.sedna.io", False),
    ],
)
def test_rbac_is_least_privilege(kube: ControlPlane, installed: list[dict], component: str, verb: str, resource: str, allowed: bool) -> None:
    assert _can(kube, _sa(installed, component), verb, resource, "--all-namespaces") is allowed
