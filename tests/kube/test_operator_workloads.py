"""Tier 3: the operator (kopf, in-process, as the chart's ServiceAccount) on a real API server.

Sedna's sample resources are applied with kubectl; the pods and services the operator creates
are checked field by field; pod phases are driven by patching pod status (there is no kubelet);
worker reports go through the LC app with the Kubernetes sink.
"""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from test_operator_fixtures are parameters here)
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sedna_operator.lc import LCSettings, create_app
from sedna_operator.runtime.kubernetes.client import KubeClient, load_credentials
from sedna_operator.runtime.kubernetes.operator import OperatorThread
from sedna_operator.runtime.kubernetes.sink import KubernetesReportSink
from tests.kube.test_operator_fixtures import (  # noqa: F401  (fixtures)
    apply,
    chart_identities,
    dataset,
    env_of,
    events,
    finish_fl,
    kubelet_finish_deletions,
    model,
    namespace,
    operator,
    pods,
    sample,
    set_pod_phase,
    table,
    wait_for,
)
from tests.support.apiserver import ControlPlane

pytestmark = pytest.mark.apiserver

JI = "helmet-detection-inference-example"
JI_LABEL = "jointinferenceservice.sedna.io"
# Sedna's documented hpa block (docs/proposals: joint inference HPA), with a behavior.
HPA = {
    "minReplicas": 2,
    "maxReplicas": 4,
    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}},
}
FL = "surface-defect-detection"
FL_LABEL = "federatedlearningjob.sedna.io"


def _ji(kube: ControlPlane, ns: str, doc: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    apply(
        kube,
        ns,
        [model("helmet-detection-inference-little-model"), model("helmet-detection-inference-big-model")],
    )
    apply(kube, ns, doc or sample("jointinferenceservice_v1alpha1.yaml"))
    found = wait_for(lambda: len(p := pods(kube, ns)) == 2 and p, "the JI workers (the Deployments' pods)")
    return {p["metadata"]["labels"][f"{JI_LABEL}/worker-type"]: p for p in found}


def _deployment(kube: ControlPlane, ns: str, role: str) -> dict[str, Any]:
    result: dict[str, Any] = kube.kubectl_json("get", "deployment", f"{JI}-deployment-{role}", "-n", ns)
    return result


def _set_pod_ready(kube: ControlPlane, ns: str, name: str) -> None:
    """What a kubelet would write for a started pod that passes its readiness probe."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "phase": "Running",
        "hostIP": "10.0.0.5",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
    }
    kube.request(
        "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": status},
        content_type="application/merge-patch+json",
    )  # fmt: skip


def test_ji_sample_creates_sednas_workers_and_service(
    kube: ControlPlane, operator: OperatorThread, namespace: str
) -> None:
    workers = _ji(kube, namespace)
    ji = kube.kubectl_json("get", "ji", JI, "-n", namespace)
    uid = ji["metadata"]["uid"]
    owner = {"apiVersion": "sedna.io/v1alpha1", "kind": "JointInferenceService", "name": JI, "uid": uid,
             "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    assert set(workers) == {"cloud", "edge"}
    for role, pod in workers.items():
        # Sedna's Deployment per worker, owned by the service, one replica (no hpa).
        deployment = _deployment(kube, namespace, role)
        labels = {f"{JI_LABEL}/name": JI, f"{JI_LABEL}/uid": uid, f"{JI_LABEL}/worker-type": role}
        assert deployment["metadata"]["labels"] == {**labels, "app.sedna.io": f"{JI}-{role}-svc"}
        assert deployment["metadata"]["ownerReferences"] == [owner]
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["selector"] == {"matchLabels": labels}
        meta = pod["metadata"]
        assert meta["name"].startswith(f"{JI}-deployment-{role}-")
        assert meta["labels"][f"{JI_LABEL}/name"] == JI
        assert meta["labels"][f"{JI_LABEL}/uid"] == uid
        assert meta["labels"]["sedna.io/worker-key"] == role
        assert [r["kind"] for r in meta["ownerReferences"]] == ["ReplicaSet"]
        assert meta["annotations"]["sedna.io/template-hash"] == deployment["metadata"]["annotations"]["sedna.io/template-hash"]
        env = env_of(pod)
        assert env["NAMESPACE"] == namespace and env["SERVICE_NAME"] == JI
        assert env["WORKER_NAME"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}
        assert env["LC_SERVER"] == "http://$(NODE_IP):9100"
        assert env["NODE_IP"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.hostIP"}}
        assert env["MODEL_URL"].endswith("/models/model.pb")
        assert pod["spec"]["nodeName"] == "edge-node"
        assert pod["spec"]["restartPolicy"] == "Always"
    cloud, edge = env_of(workers["cloud"]), env_of(workers["edge"])
    assert cloud["BIG_MODEL_BIND_PORT"] == "5000" and cloud["input_shape"] == "544,544"
    assert edge["BIG_MODEL_IP"] == f"{JI}-cloud.{namespace}" and edge["BIG_MODEL_PORT"] == "5000"
    assert edge["HEM_NAME"] == "IBT"
    assert json.loads(edge["HEM_PARAMETERS"]) == [
        {"key": "threshold_img", "value": "0.5"}, {"key": "threshold_box", "value": "0.5"}
    ]  # fmt: skip
    assert workers["edge"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    svc = kube.kubectl_json("get", "service", f"{JI}-cloud", "-n", namespace)
    assert svc["spec"]["ports"] == [{"name": "tcp-0", "port": 5000, "protocol": "TCP", "targetPort": 5000}]
    # The big-model Service selects the cloud Deployment's pods.
    assert svc["spec"]["selector"].items() <= workers["cloud"]["metadata"]["labels"].items()
    assert svc["spec"]["selector"][f"{JI_LABEL}/worker-type"] == "cloud"
    assert svc["metadata"]["ownerReferences"][0]["uid"] == uid
    assert not kube.kubectl_json("get", "hpa", "-n", namespace)["items"]
    assert operator.engine.errors == 0


def test_ji_comes_up_with_writes_only(kube: ControlPlane, operator: OperatorThread, namespace: str) -> None:
    """The operator reads from its watch indices (runtime/kubernetes/cache.py): bringing a
    JointInferenceService up costs its writes and not one GET or LIST in its namespace (before
    the indices, each reconcile read the resource, its Models, its Deployments, HPAs and pods,
    and its Service), and the watch event of its own status write is skipped."""
    calls: list[tuple[str, str]] = []
    client = operator.engine.client
    real = client.request

    async def recording(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((method, path))
        return await real(method, path, *args, **kwargs)

    skipped = operator.engine.skipped
    client.request = recording  # type: ignore[method-assign]
    try:
        _ji(kube, namespace)
        ji = wait_for(
            lambda: (j := kube.kubectl_json("get", "ji", JI, "-n", namespace)).get("status", {}).get("conditions") and j,
            "the JI's first status",
        )
        time.sleep(1.0)  # the reconciles that the pods' events start
    finally:
        del client.request
    mine = [(m, p) for m, p in calls if f"/namespaces/{namespace}/" in p]
    assert [c for c in mine if c[0] == "GET"] == [], mine
    posted = sorted(p.rsplit("/", 1)[-1] for m, p in mine if m == "POST" and not p.endswith("/events"))
    assert posted == ["deployments", "deployments", "services"], mine
    assert ji["status"]["conditions"]
    # The watch event of our own status write came back and was skipped, not reconciled.
    assert operator.engine.skipped > skipped
    assert operator.engine.cache.bound and operator.engine.errors == 0


def test_ji_status_follows_pods_and_reports(
    kube: ControlPlane,
    operator: OperatorThread,
    chart_identities: dict[str, Path],
    namespace: str,
    tmp_path: Path,
) -> None:
    workers = _ji(kube, namespace)
    for pod in workers.values():
        _set_pod_ready(kube, namespace, pod["metadata"]["name"])
    # active counts the Deployments' available replicas.
    ji = wait_for(
        lambda: (j := kube.kubectl_json("get", "ji", JI, "-n", namespace)).get("status", {}).get("active") == 2 and j,
        "active=2",
    )
    assert ji["status"]["conditions"][0]["type"] == "Ready" and ji["status"]["conditions"][0]["status"] == "True"
    assert ji["status"]["cloudServiceURL"] == f"http://{JI}-cloud.{namespace}:5000"
    row = table(kube, "ji", JI, "-n", namespace)[0]
    assert (row["NAME"], row["STATE"], row["ACTIVE"]) == (JI, "Running", "2")
    # The edge worker reports through the LC (as the chart's LC ServiceAccount).
    edge = workers["edge"]["metadata"]["name"]
    sink = KubernetesReportSink(KubeClient(load_credentials(str(chart_identities["lc"]))), tmp_path)
    body = {
        "name": edge, "namespace": namespace, "ownerName": JI, "ownerKind": "jointinferenceservice",
        "kind": "inference", "status": "running", "ownerInfo": {"inferenceNumber": 10, "uploadCloudRatio": 0.2},
        "results": [],
    }  # fmt: skip

    async def post() -> httpx.Response:
        app = create_app(LCSettings.for_local(), sink)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lc") as client:
            response = await client.post(f"/sedna/workers/{edge}/info", json=body)
        await sink.close()
        return response

    response = asyncio.run(post())
    assert response.status_code == 200, response.text
    ji = wait_for(
        lambda: (
            (j := kube.kubectl_json("get", "ji", JI, "-n", namespace)).get("status", {}).get("metrics") and j
        ),
        "status.metrics from the report",
    )
    assert ji["status"]["reports"][edge]["ownerInfo"] == {"inferenceNumber": 10, "uploadCloudRatio": 0.2}
    assert {"key": "inferenceNumber", "value": "10"} in ji["status"]["metrics"]
    row = table(kube, "ji", JI, "-n", namespace)[0]
    assert (row["EDGE-INFERENCES"], row["CLOUD-RATIO"]) == ("10", "0.2")
    reasons = [e["reason"] for e in events(kube, namespace, JI)]
    assert reasons, "the operator posts events on the service"
    assert operator.engine.errors == 0


def test_deleted_worker_is_recreated_and_spec_edit_rolls_only_that_worker(
    kube: ControlPlane, operator: OperatorThread, namespace: str
) -> None:
    workers = _ji(kube, namespace)
    edge, cloud = workers["edge"]["metadata"], workers["cloud"]["metadata"]["name"]
    kube.kubectl("delete", "pod", edge["name"], "-n", namespace, "--wait=false")
    kubelet_finish_deletions(kube, namespace)
    # The edge Deployment makes another pod.
    (replaced,) = wait_for(
        lambda: [
            p
            for p in pods(kube, namespace, f"{JI_LABEL}/worker-type=edge")
            if p["metadata"]["uid"] != edge["uid"]
        ],
        "a new edge worker",
    )
    new_edge = replaced["metadata"]["name"]
    _set_pod_ready(kube, namespace, new_edge)
    old_hash = _deployment(kube, namespace, "edge")["metadata"]["annotations"]["sedna.io/template-hash"]
    # Edit the edge template: the edge Deployment rolls, the cloud worker is kept.
    patch = [
        {
            "op": "add",
            "path": "/spec/edgeWorker/template/spec/containers/0/env/-",
            "value": {"name": "NEW", "value": "1"},
        }
    ]
    kube.kubectl("patch", "ji", JI, "-n", namespace, "--type=json", "-p", json.dumps(patch))
    (rolled,) = wait_for(
        lambda: [
            p for p in pods(kube, namespace, f"{JI_LABEL}/worker-type=edge")
            if p["metadata"]["name"] != new_edge and env_of(p).get("NEW") == "1"
        ],
        "the edge worker rolled to the new template",
    )  # fmt: skip
    deployment = _deployment(kube, namespace, "edge")
    assert deployment["metadata"]["annotations"]["sedna.io/template-hash"] != old_hash
    assert rolled["metadata"]["annotations"]["sedna.io/template-hash"] != old_hash
    _set_pod_ready(kube, namespace, rolled["metadata"]["name"])  # the old pod goes once the new one is up
    wait_for(
        lambda: (
            kubelet_finish_deletions(kube, namespace)
            or [p["metadata"]["name"] for p in pods(kube, namespace, f"{JI_LABEL}/worker-type=edge")]
            == [rolled["metadata"]["name"]]
        ),
        "the old edge worker gone",
    )
    assert [p["metadata"]["name"] for p in pods(kube, namespace, f"{JI_LABEL}/worker-type=cloud")] == [cloud]
    assert operator.engine.errors == 0


def test_ji_hpa_is_applied_edited_and_removed(
    kube: ControlPlane, operator: OperatorThread, namespace: str
) -> None:
    """Sedna's sample with Sedna's documented ``hpa`` block on the cloud worker."""
    doc = sample("jointinferenceservice_v1alpha1.yaml")
    doc["spec"]["cloudWorker"]["hpa"] = HPA
    apply(kube, namespace, [model("helmet-detection-inference-little-model"), model("helmet-detection-inference-big-model")])
    apply(kube, namespace, doc)
    name = f"hpa-{JI}-deployment-cloud"
    hpa = wait_for(
        lambda: kube.kubectl("get", "hpa", name, "-n", namespace, check=False).returncode == 0
        and kube.kubectl_json("get", "hpa", name, "-n", namespace),
        "the cloud worker's HPA",
    )
    uid = kube.kubectl_json("get", "ji", JI, "-n", namespace)["metadata"]["uid"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["ownerReferences"][0]["uid"] == uid
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{JI}-deployment-cloud"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    assert hpa["spec"]["metrics"] == HPA["metrics"]
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert _deployment(kube, namespace, "cloud")["spec"]["replicas"] == 2
    assert _deployment(kube, namespace, "edge")["spec"]["replicas"] == 1
    wait_for(lambda: len(pods(kube, namespace, f"{JI_LABEL}/worker-type=cloud")) == 2, "two cloud pods")
    # What an HPA controller would do (there is none here): scale within its range. Not undone.
    kube.kubectl("scale", "deployment", f"{JI}-deployment-cloud", "--replicas=3", "-n", namespace)
    # Edit the hpa: the HPA is replaced; the replica count stays the HPA's.
    patch = [{"op": "replace", "path": "/spec/cloudWorker/hpa/maxReplicas", "value": 6}]
    kube.kubectl("patch", "ji", JI, "-n", namespace, "--type=json", "-p", json.dumps(patch))
    wait_for(
        lambda: kube.kubectl_json("get", "hpa", name, "-n", namespace)["spec"]["maxReplicas"] == 6,
        "the HPA edited",
    )
    assert _deployment(kube, namespace, "cloud")["spec"]["replicas"] == 3
    # Remove the hpa: the HPA goes and the Deployment is back to one replica.
    patch = [{"op": "remove", "path": "/spec/cloudWorker/hpa"}]
    kube.kubectl("patch", "ji", JI, "-n", namespace, "--type=json", "-p", json.dumps(patch))
    wait_for(
        lambda: kube.kubectl("get", "hpa", name, "-n", namespace, check=False).returncode != 0,
        "the HPA removed",
    )
    wait_for(lambda: _deployment(kube, namespace, "cloud")["spec"]["replicas"] == 1, "one cloud replica again")
    reasons = [e["reason"] for e in events(kube, namespace, JI)]
    assert "AutoscalerApplied" in reasons and "AutoscalerRemoved" in reasons
    assert operator.engine.errors == 0


def test_deleting_the_resource_leaves_no_owned_object(
    kube: ControlPlane, operator: OperatorThread, namespace: str
) -> None:
    _ji(kube, namespace)
    wait_for(
        lambda: kube.kubectl("get", "svc", f"{JI}-cloud", "-n", namespace, check=False).returncode == 0,
        "service",
    )
    kube.kubectl("delete", "ji", JI, "-n", namespace)  # no finalizer: returns at once
    wait_for(lambda: not pods(kube, namespace), "the garbage collector to remove the workers", timeout=60)
    wait_for(
        lambda: not kube.kubectl_json("get", "svc", "-n", namespace)["items"],
        "the garbage collector to remove the service",
    )


def test_fl_sample_runs_to_completion(kube: ControlPlane, operator: OperatorThread, namespace: str) -> None:
    apply(kube, namespace, [
        model("surface-defect-detection-model"),
        dataset("edge1-surface-defect-detection-dataset", "edge1"),
        dataset("edge2-surface-defect-detection-dataset", "edge2"),
    ])  # fmt: skip
    apply(kube, namespace, sample("federatedlearningjob_v1alpha1.yaml"))
    found = wait_for(lambda: len(p := pods(kube, namespace)) == 3 and p, "aggregation + 2 training workers")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for pod in found:
        by_type.setdefault(pod["metadata"]["labels"][f"{FL_LABEL}/worker-type"], []).append(pod)
    assert sorted(by_type) == ["aggregation", "train"] and len(by_type["train"]) == 2
    agg = by_type["aggregation"][0]
    assert agg["metadata"]["name"].startswith(f"{FL}-aggregation-")
    assert env_of(agg)["AGG_BIND_PORT"] == "7363" and env_of(agg)["PARTICIPANTS_COUNT"] == "2"
    assert agg["spec"]["restartPolicy"] == "OnFailure"
    for train in by_type["train"]:
        env = env_of(train)
        assert env["AGG_IP"] == f"{FL}-aggregation.{namespace}" and env["AGG_PORT"] == "7363"
        assert env["JOB_NAME"] == FL and env["MODEL_NAME"] == "surface-defect-detection-model"
        assert train["spec"]["hostNetwork"] is True
    assert {t["spec"]["nodeName"] for t in by_type["train"]} == {"edge1", "edge2"}
    svc = kube.kubectl_json("get", "svc", f"{FL}-aggregation", "-n", namespace)
    assert svc["spec"]["ports"][0]["port"] == 7363
    for pod in found:
        set_pod_phase(kube, namespace, pod["metadata"]["name"], "Running")
    wait_for(
        lambda: (
            kube.kubectl_json("get", "fl", FL, "-n", namespace).get("status", {}).get("phase") == "Running"
        ),
        "Running",
    )
    job = finish_fl(kube, namespace, FL, found)
    assert job["status"]["conditions"][-1]["type"] == "Complete"
    assert job["status"]["succeeded"] >= 1 and job["status"]["completionTime"]
    row = table(kube, "fl", FL, "-n", namespace)[0]
    assert row["PHASE"] == "Succeeded" and row["SUCCEEDED"] == str(job["status"]["succeeded"])
    assert operator.engine.errors == 0
