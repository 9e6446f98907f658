"""Benchmark (not a test): reconcile latency of the operator on a real API server.

Run: ``PATH=~/.cache/sedna/bin:$PATH .venv/bin/python bench/bench_operator_latency.py [--count 100]``

Starts etcd + kube-apiserver + kube-controller-manager (tests.support.apiserver), the sedna
CRDs and the operator in-process (admin credentials, standalone), then measures:

1. latency: one JointInferenceService created -> both worker pods exist (and its Service);
2. throughput: ``--count`` JointInferenceServices created in one ``kubectl apply`` -> all
   ``2 x count`` pods exist;
3. baseline: the very pods the operator made (server fields stripped), created with a plain
   ``kubectl create -f`` into a fresh namespace, for 1 resource and for ``--count``.

The ratio operator/baseline compares across machines; the absolute numbers do not.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sedna_operator.runtime.kubernetes.config import OperatorConfig  # noqa: E402
from sedna_operator.runtime.kubernetes.operator import OperatorThread  # noqa: E402
from tests.support.apiserver import ControlPlane, start_control_plane  # noqa: E402

SAMPLE = REPO.parent / "shared" / "conformance" / "sedna-crd-samples" / "jointinferenceservice_v1alpha1.yaml"
MODELS = ("helmet-detection-inference-little-model", "helmet-detection-inference-big-model")


def _ji(name: str) -> dict[str, Any]:
    doc = yaml.safe_load(SAMPLE.read_text())
    doc["metadata"] = {"name": name}
    return doc


def _count_pods(kube: ControlPlane, ns: str) -> int:
    return len(kube.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"])


def _wait_pods(kube: ControlPlane, ns: str, want: int, started: float, timeout: float = 300) -> float:
    while _count_pods(kube, ns) < want:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"only {_count_pods(kube, ns)}/{want} pods after {timeout}s")
        time.sleep(0.02)
    return time.perf_counter() - started


def _namespace(kube: ControlPlane, name: str) -> str:
    kube.kubectl("create", "namespace", name)
    models = [{"apiVersion": "sedna.io/v1alpha1", "kind": "Model", "metadata": {"name": m},
               "spec": {"url": "/models/m.pb", "format": "pb"}} for m in MODELS]  # fmt: skip
    kube.kubectl("apply", "-n", name, "-f", "-", input=yaml.safe_dump_all(models))
    return name


def _operator_run(kube: ControlPlane, ns: str, count: int) -> float:
    docs = [_ji(f"ji-{i:03d}") for i in range(count)]
    started = time.perf_counter()
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs))
    return _wait_pods(kube, ns, 2 * count, started)


def _plain_pods(kube: ControlPlane, ns: str, count: int) -> list[dict[str, Any]]:
    """The operator's pods of ``count`` resources, as creatable manifests (server fields dropped)."""
    out = []
    for pod in kube.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"][: 2 * count]:
        meta = pod["metadata"]
        clean = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": meta["name"], "labels": meta.get("labels", {}), "annotations": meta.get("annotations", {})},
            "spec": copy.deepcopy(pod["spec"]),
        }  # fmt: skip
        for c in clean["spec"]["containers"]:
            c["volumeMounts"] = [
                m for m in c.get("volumeMounts", []) if not m["name"].startswith("kube-api-access")
            ]
        clean["spec"]["volumes"] = [
            v for v in clean["spec"].get("volumes", []) if not v["name"].startswith("kube-api-access")
        ]
        out.append(clean)
    return out


def _baseline(kube: ControlPlane, manifests: list[dict[str, Any]], ns: str) -> float:
    kube.kubectl("create", "namespace", ns)
    text = yaml.safe_dump_all(manifests)
    started = time.perf_counter()
    kube.kubectl("create", "-n", ns, "-f", "-", input=text)
    return _wait_pods(kube, ns, len(manifests), started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    kube = start_control_plane(Path(tempfile.mkdtemp(prefix="sedna-bench-")))
    try:
        kube.kubectl("apply", "-f", str(REPO / "crds"))
        kube.kubectl(
            "wait",
            "--for=condition=Established",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=sedna",
            "--timeout=60s",
        )
        op = OperatorThread(OperatorConfig(kubeconfig=str(kube.kubeconfig), resync_seconds=0)).start()
        try:
            one = _operator_run(kube, _namespace(kube, "bench-one"), 1)
            many = _operator_run(kube, _namespace(kube, "bench-many"), args.count)
            errors = op.engine.errors
        finally:
            op.stop()
        base_one = _baseline(kube, _plain_pods(kube, "bench-one", 1), "plain-one")
        base_many = _baseline(kube, _plain_pods(kube, "bench-many", args.count), "plain-many")
    finally:
        kube.stop()
    result = {
        "resources_1": {"operator_s": round(one, 3), "kubectl_create_s": round(base_one, 3), "ratio": round(one / base_one, 2)},
        f"resources_{args.count}": {
            "operator_s": round(many, 3), "kubectl_create_s": round(base_many, 3), "ratio": round(many / base_many, 2),
            "pods": 2 * args.count,
        },
        "reconcile_errors": errors,
    }  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
