"""Benchmark (not a test): reconcile latency of the operator on a real API server.

Run: ``PATH=~/.cache/sedna/bin:$PATH .venv/bin/python bench/bench_operator_latency.py [--count 100]``

Starts etcd + kube-apiserver + kube-controller-manager (tests.support.apiserver), the sedna
CRDs and the operator in-process (admin credentials, standalone), then measures:

1. latency: one JointInferenceService created -> both worker pods exist (and its Service),
   ``--repeat`` times, each in its own namespace (the median is reported);
2. throughput: ``--count`` JointInferenceServices created in one ``kubectl create`` -> all
   ``2 x count`` pods exist;
3. baseline "pods": the very pods the operator made (server fields stripped), created with a
   plain ``kubectl create -f`` into a fresh namespace, for 1 resource and for ``--count``;
4. baseline "objects": the top-level objects the operator made (JI workers are Deployments, so
   its Deployments and Services, server fields stripped) created with ``kubectl create -f`` into
   a fresh namespace -> the same number of pods exist. This one pays the same Deployment and
   ReplicaSet controller work as the operator's path, so it is the fair comparison;
5. the operator's own part: from ``kubectl create`` of the resources until its Deployments and
   Services exist, against the time ``kubectl create`` takes for those very objects and for the
   pods. The pods then come from kube-controller-manager (ReplicaSet, then pod, through a client
   limited to 20 requests/s by default; ``--controller-qps`` raises it), which bounds "pods
   exist" for any Deployment-based workload, the operator's or a user's.

Also timed, with no operator running: ``kubectl create`` of the ``--count`` resources themselves
into a fresh namespace (the first step of the operator's figure, so a floor under it).

Before each baseline the bench waits until kube-controller-manager has caught up with the
earlier runs' Deployments, so a backlog held up by its rate limit is not charged to the next run.

Also printed: the operator's API requests per resource (``KubeClient.calls``). The ratio
operator/baseline compares across machines; the absolute numbers do not.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import ssl
import sys
import tempfile
import time
import urllib.parse
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


class _Counter:
    """Counts objects for the waits, as lightly as the API allows: one kept-alive connection,
    metadata-only lists (``PartialObjectMetadataList``) served from the API server's watch cache
    (``resourceVersion=0``). A full LIST every 20 ms over a new TLS connection costs the API
    server enough CPU to slow whichever side is being waited for (the operator's objects are
    polled; the ``kubectl create`` baselines' objects are not)."""

    ACCEPT = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"

    def __init__(self, kube: ControlPlane):
        url = urllib.parse.urlsplit(kube.url)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self._conn = http.client.HTTPSConnection(url.hostname or "127.0.0.1", url.port, context=ctx, timeout=30)
        self._headers = {"Authorization": f"Bearer {kube.token}", "Accept": self.ACCEPT}

    def __call__(self, path: str) -> int:
        self._conn.request("GET", f"{path}?resourceVersion=0", headers=self._headers)
        resp = self._conn.getresponse()
        body = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status} {body}")
        return len(body.get("items") or [])


_COUNTERS: dict[int, _Counter] = {}


def _count(kube: ControlPlane, path: str) -> int:
    counter = _COUNTERS.get(id(kube))
    if counter is None:
        counter = _COUNTERS[id(kube)] = _Counter(kube)
    return counter(path)


def _count_pods(kube: ControlPlane, ns: str) -> int:
    return _count(kube, f"/api/v1/namespaces/{ns}/pods")


def _count_objects(kube: ControlPlane, ns: str) -> int:
    return _count(kube, f"/apis/apps/v1/namespaces/{ns}/deployments") + _count(kube, f"/api/v1/namespaces/{ns}/services")


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


# What the operator makes per JointInferenceService before any pod: the cloud and edge
# Deployments and the cloud worker's Service (Sedna's layout; checked after each run).
OBJECTS_PER_JI = 3


def _operator_run(kube: ControlPlane, ns: str, count: int) -> tuple[float, float]:
    """Seconds from ``kubectl create`` of ``count`` resources until the operator's objects
    (Deployments, Services) exist, and until all their pods exist."""
    docs = [_ji(f"ji-{i:03d}") for i in range(count)]
    started = time.perf_counter()
    # ``create``, as the baselines use: ``apply`` costs a GET and a diff per object on the client
    # side (100 objects: seconds), which would be charged to the operator.
    kube.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs))
    while _count_objects(kube, ns) < OBJECTS_PER_JI * count:
        if time.perf_counter() - started > 300:
            raise TimeoutError(f"only {_count_objects(kube, ns)}/{OBJECTS_PER_JI * count} objects after 300s")
        time.sleep(0.02)
    objects_s = time.perf_counter() - started
    pods_s = _wait_pods(kube, ns, 2 * count, started)
    assert _count_objects(kube, ns) == OBJECTS_PER_JI * count, "OBJECTS_PER_JI no longer matches the operator"
    return objects_s, pods_s


def _by_replicaset(pod: dict[str, Any]) -> bool:
    return any(r.get("kind") == "ReplicaSet" for r in pod["metadata"].get("ownerReferences") or [])


def _plain_pods(kube: ControlPlane, ns: str, count: int, bare_only: bool = False) -> list[dict[str, Any]]:
    """The operator's pods of ``count`` resources, as creatable manifests (server fields dropped);
    with ``bare_only`` only those no ReplicaSet made."""
    out = []
    pods = kube.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
    for pod in [p for p in pods if not (bare_only and _by_replicaset(p))][: 2 * count]:
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


def _strip(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """``obj`` as ``kubectl create`` input: no owner, uid, status or server-set fields."""
    meta = obj["metadata"]
    spec = copy.deepcopy(obj["spec"])
    if kind == "Service":
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    return {
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": meta["name"], "labels": meta.get("labels", {}), "annotations": {
            k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("deployment.kubernetes.io/")
        }},
        "spec": spec,
    }  # fmt: skip


def _plain_objects(kube: ControlPlane, ns: str) -> tuple[list[dict[str, Any]], int]:
    """The Deployments and Services the operator made in ``ns`` (and the pods they make)."""
    deployments = kube.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")["items"]
    services = kube.request("GET", f"/api/v1/namespaces/{ns}/services")["items"]
    objs = [_strip(d, "apps/v1", "Deployment") for d in deployments]
    objs += [_strip(s, "v1", "Service") for s in services]
    objs += _plain_pods(kube, ns, 10**6, bare_only=True)  # workers that stay bare pods, if any
    pods = sum(int(d["spec"].get("replicas") or 1) for d in deployments)
    return objs, pods + sum(1 for o in objs if o["kind"] == "Pod")


def _settle(kube: ControlPlane, namespaces: list[str], timeout: float = 300) -> None:
    """Wait until kube-controller-manager has caught up with the Deployments in ``namespaces``
    (status observed and replicas counted), so that no backlog of an earlier run, held up by its
    client's rate limit, is charged to the next one."""
    started = time.monotonic()

    def settled(d: dict[str, Any]) -> bool:
        status, spec = d.get("status") or {}, d["spec"]
        return bool(
            status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
            and status.get("replicas") == spec.get("replicas", 1)
        )

    for ns in namespaces:
        while not all(settled(d) for d in kube.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")["items"]):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"Deployments in {ns} not settled after {timeout}s")
            time.sleep(0.2)


def _baseline_objects(kube: ControlPlane, ns_from: str, ns: str) -> tuple[float, float]:
    """``kubectl create`` of the operator's objects: seconds until it returns (all objects
    exist) and until their pods exist."""
    objs, pods = _plain_objects(kube, ns_from)
    kube.kubectl("create", "namespace", ns)
    text = yaml.safe_dump_all(objs)
    started = time.perf_counter()
    kube.kubectl("create", "-n", ns, "-f", "-", input=text)
    created = time.perf_counter() - started
    return created, _wait_pods(kube, ns, pods, started)


def _baseline(kube: ControlPlane, manifests: list[dict[str, Any]], ns: str) -> float:
    kube.kubectl("create", "namespace", ns)
    text = yaml.safe_dump_all(manifests)
    started = time.perf_counter()
    kube.kubectl("create", "-n", ns, "-f", "-", input=text)
    return _wait_pods(kube, ns, len(manifests), started)


def _create_resources(kube: ControlPlane, ns: str, count: int) -> float:
    """Seconds ``kubectl create`` of ``count`` resources takes with no operator running: the
    floor under the operator's figure, which starts with this very command."""
    _namespace(kube, ns)
    text = yaml.safe_dump_all([_ji(f"ji-{i:03d}") for i in range(count)])
    started = time.perf_counter()
    kube.kubectl("create", "-n", ns, "-f", "-", input=text)
    return time.perf_counter() - started


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return _median([a for a, _ in pairs]), _median([b for _, b in pairs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="runs of the 1-resource case, each side (the median is reported): one run is a few "
        "hundred milliseconds, and varies by more than the ratio target",
    )
    parser.add_argument(
        "--controller-qps",
        type=int,
        default=None,
        help="kube-controller-manager's --kube-api-qps (burst twice that); Kubernetes' default is 20",
    )
    args = parser.parse_args()
    kube = start_control_plane(Path(tempfile.mkdtemp(prefix="sedna-bench-")), controller_qps=args.controller_qps)
    ones = [f"bench-one-{k}" for k in range(args.repeat)]
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
            one_runs = [_operator_run(kube, _namespace(kube, ns), 1) for ns in ones]
            _settle(kube, ones)
            many = _operator_run(kube, _namespace(kube, "bench-many"), args.count)
            errors = op.engine.errors
            # Let the operator settle (pod/Deployment status events), then count its requests.
            time.sleep(3)
            calls = dict(getattr(op.engine.client, "calls", {}))  # older clients did not count
        finally:
            op.stop()
        _settle(kube, ["bench-many"])
        base_ones = [_baseline(kube, _plain_pods(kube, ns, 1), f"plain-{ns}") for ns in ones]
        objs_ones = []
        for ns in ones:
            objs_ones.append(_baseline_objects(kube, ns, f"objects-{ns}"))
            _settle(kube, [f"objects-{ns}"])
        base_many = _baseline(kube, _plain_pods(kube, "bench-many", args.count), "plain-many")
        resources_many = _create_resources(kube, "resources-many", args.count)
        objs_many = _baseline_objects(kube, "bench-many", "objects-many")
    finally:
        kube.stop()

    def row(op: tuple[float, float], pods_s: float, objs: tuple[float, float]) -> dict[str, float]:
        (op_objects, op_pods), (objs_created, objs_pods) = op, objs
        return {
            "operator_s": round(op_pods, 3),
            "kubectl_create_pods_s": round(pods_s, 3), "ratio_pods": round(op_pods / pods_s, 2),
            "kubectl_create_objects_s": round(objs_pods, 3), "ratio_objects": round(op_pods / objs_pods, 2),
            # The operator's own part: its Deployments and Services exist. From there the pods are
            # kube-controller-manager's work (ReplicaSets, then pods, at its client's rate limit).
            "operator_objects_s": round(op_objects, 3),
            "ratio_operator_objects_to_kubectl_create_pods": round(op_objects / pods_s, 2),
            "ratio_operator_objects_to_kubectl_create_objects": round(op_objects / objs_created, 2),
        }  # fmt: skip

    result = {
        "controller_qps": args.controller_qps or 20,
        f"resources_1_median_of_{args.repeat}": {
            **row(_median_pair(one_runs), _median(base_ones), _median_pair(objs_ones)),
            "operator_runs_s": [round(b, 3) for _, b in one_runs],
            "kubectl_create_pods_runs_s": [round(b, 3) for b in base_ones],
        },
        f"resources_{args.count}": {
            **row(many, base_many, objs_many),
            "pods": 2 * args.count,
            # No operator: the resources' own creation, against the pods baseline.
            "kubectl_create_resources_alone_s": round(resources_many, 3),
            "ratio_resources_alone_to_kubectl_create_pods": round(resources_many / base_many, 2),
        },
        "reconcile_errors": errors,
        "api_requests": calls,
        # Includes the reconciler's own requeues while pods are not running (none run here).
        "api_requests_per_resource": round(sum(calls.values()) / (args.count + args.repeat), 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
