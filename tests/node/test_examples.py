"""Every example, applied with ``kubectl apply -f examples/<name>/`` exactly as ``sedna run``
runs it, on real pods: the cloud workers on cloud-node, the edge workers on edge-node. The four
start together (each in its own namespace) and each test waits for its own."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from tests.support.apiserver import parse_table
from tests.support.node import E2E

EXAMPLES = {
    "federated_learning": "e2e-fl",
    "joint_inference": "e2e-ji",
    "incremental_learning": "e2e-il",
    "lifelong_learning": "e2e-ll",
}
TIMEOUT = 420.0


@pytest.fixture(scope="module")
def started(e2e: E2E) -> Iterator[dict[str, float]]:
    """Stage and apply every example; the monotonic time of each apply."""
    for example, ns in EXAMPLES.items():
        e2e.stage_example(example, ns)
    applied = {example: e2e.apply_example(example, ns) for example, ns in EXAMPLES.items()}
    yield applied
    for ns in EXAMPLES.values():
        e2e.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _workers(e2e: E2E, ns: str, label: str) -> list[dict]:
    return e2e.json("-n", ns, "get", "pods", "-l", label)["items"]


def _sedna_row(e2e: E2E, ns: str, resource: str) -> dict[str, str]:
    """The row of ``resource`` (e.g. ``federatedlearningjob.sedna.io/digits-fedavg``) in
    ``kubectl get sedna``: one table per kind, separated by blank lines."""
    out = e2e.kubectl("-n", ns, "get", "sedna").stdout
    for block in out.split("\n\n"):
        for row in parse_table(block) if block.strip() else []:
            if row.get("NAME") == resource:
                return row
    raise AssertionError(f"{resource} not in `kubectl get sedna`:\n{out}")


def _event_reasons(e2e: E2E, ns: str, name: str) -> list[str]:
    events = e2e.json("-n", ns, "get", "events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["reason"] for e in sorted(events, key=lambda e: e.get("firstTimestamp") or e["metadata"]["creationTimestamp"])]


def _took(e2e: E2E, started: dict[str, float], example: str) -> None:
    e2e.timings[f"{example}: apply -> done"] = time.monotonic() - started[example]


def test_federated_learning(e2e: E2E, started: dict[str, float]) -> None:
    ns = EXAMPLES["federated_learning"]
    e2e.wait_example_done("federated_learning", ns, TIMEOUT)
    _took(e2e, started, "federated_learning")
    status = e2e.json("-n", ns, "get", "fl", "digits-fedavg")["status"]
    assert status["currentRound"] == 3  # exit_round of the manifest
    rounds = [int(m.group(1)) for c in status["conditions"] if (m := re.match(r"Round (\d+) ", c.get("message", "")))]
    assert rounds == sorted(set(rounds)) and rounds[-1] == 3  # each round reported once, in order
    # The aggregator on the cloud node, the three trainers on the edge node, all ended well.
    pods = _workers(e2e, ns, "federatedlearningjob.sedna.io/name=digits-fedavg")
    placed = sorted((p["metadata"]["labels"]["federatedlearningjob.sedna.io/worker-type"], p["spec"]["nodeName"]) for p in pods)
    assert placed == [("aggregation", "cloud-node")] + [("train", "edge-node")] * 3
    assert {p["status"]["phase"] for p in pods} == {"Succeeded"}
    assert status["succeeded"] == 4 and status["active"] == 0 and status["failed"] == 0
    # Every worker reported through the LC of its own node; the aggregator its 3 rounds.
    reports = status["reports"]
    agg = next(v for k, v in reports.items() if "-aggregation-" in k)
    assert agg["ownerInfo"]["currentRound"] == 3 and agg["ownerInfo"]["participants"] == 3
    assert sum(1 for k in reports if "-train-" in k) == 3
    row = _sedna_row(e2e, ns, "federatedlearningjob.sedna.io/digits-fedavg")
    assert (row["PHASE"], row["ROUND"], row["SUCCEEDED"]) == ("Succeeded", "3", "4")
    agg_pod = next(p["metadata"]["name"] for p in pods if "-aggregation-" in p["metadata"]["name"])
    log = e2e.kubectl("-n", ns, "logs", agg_pod).stdout
    assert "round 3" in log.lower(), log[-2000:]
    # The aggregator's TCP readiness probe passed (the kubelet's), and the job said so.
    agg_spec = next(p for p in pods if "-aggregation-" in p["metadata"]["name"])["spec"]
    assert agg_spec["containers"][0]["readinessProbe"]["tcpSocket"] == {"port": 7363}
    assert "AggregatorReady" in _event_reasons(e2e, ns, "digits-fedavg")
    assert status["conditions"][0]["type"] == "Ready" and row["READY"] == "False"  # finished


def test_joint_inference(e2e: E2E, started: dict[str, float]) -> None:
    ns = EXAMPLES["joint_inference"]
    e2e.wait_example_done("joint_inference", ns, TIMEOUT)
    _took(e2e, started, "joint_inference")
    (edge,) = _workers(e2e, ns, "jointinferenceservice.sedna.io/worker-type=edge")
    assert edge["spec"]["nodeName"] == "edge-node"
    cloud = _workers(e2e, ns, "jointinferenceservice.sedna.io/worker-type=cloud")
    assert [p["spec"]["nodeName"] for p in cloud] == ["cloud-node"]
    assert cloud[0]["status"]["phase"] == "Running"

    def metrics() -> dict[str, float] | None:
        status = e2e.json("-n", ns, "get", "ji", "digits-ji")["status"]
        got = {m["key"]: float(m["value"]) for m in status.get("metrics") or []}
        return got if got.get("inferenceNumber") == 300 else None

    got = e2e.wait("the edge's final metrics in status", metrics, 60, dump_ns=ns)
    # Hard examples went from the edge node to the big model behind its Service on the cloud
    # node, and every call was answered.
    assert 0 < got["hardExampleNumber"] < 300 and got["cloudFailureNumber"] == 0
    assert got["uploadCloudRatio"] == pytest.approx(got["hardExampleNumber"] / 300)
    summary = json.loads(next(
        line.removeprefix("SUMMARY ") for line in e2e.kubectl("-n", ns, "logs", edge["metadata"]["name"]).stdout.splitlines()
        if line.startswith("SUMMARY ")
    ))  # fmt: skip
    assert summary["hard_examples"] == got["hardExampleNumber"]
    assert summary["joint_accuracy"] > summary["edge_accuracy"]
    row = _sedna_row(e2e, ns, "jointinferenceservice.sedna.io/digits-ji")
    assert row["EDGE-INFERENCES"] == "300"
    # The big model's TCP readiness probe: its pod is Ready (it still serves), the service was
    # Ready while both workers ran and says where the big model answers.
    assert cloud[0]["spec"]["containers"][0]["readinessProbe"]["tcpSocket"] == {"port": 5000}
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in cloud[0]["status"]["conditions"])
    reasons = _event_reasons(e2e, ns, "digits-ji")
    assert "WorkersReady" in reasons and reasons.index("WorkersReady") < reasons.index("EdgeWorkerNotReady")
    status = e2e.json("-n", ns, "get", "ji", "digits-ji")["status"]
    assert status["cloudServiceURL"] == f"http://digits-ji-cloud.{ns}:5000"
    assert row["READY"] == "False"  # the edge worker's stream has ended
    # The big model is Sedna's Deployment (one replica without hpa); the edge worker, whose
    # template says restartPolicy OnFailure (it ends with its stream), is a bare pod.
    deployment = e2e.json("-n", ns, "get", "deployment", "digits-ji-deployment-cloud")
    assert deployment["spec"]["replicas"] == 1 and deployment["status"].get("availableReplicas") == 1
    assert [r["kind"] for r in cloud[0]["metadata"]["ownerReferences"]] == ["ReplicaSet"]
    assert [r["kind"] for r in edge["metadata"]["ownerReferences"]] == ["JointInferenceService"]
    assert not e2e.json("-n", ns, "get", "hpa")["items"]


def test_joint_inference_hpa_scales_the_big_model(e2e: E2E) -> None:
    """The JI example with an ``hpa`` on its cloud worker: the Deployment starts at minReplicas,
    both big-model pods become available behind the Service, and the example still completes."""
    ns, started_at = "e2e-ji-hpa", time.monotonic()
    e2e.stage_example("joint_inference", ns)
    hpa = {"minReplicas": 2, "maxReplicas": 3,
           "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}  # fmt: skip

    def with_hpa(docs: list[dict]) -> None:
        next(d for d in docs if d["kind"] == "JointInferenceService")["spec"]["cloudWorker"]["hpa"] = hpa

    e2e.apply_example("joint_inference", ns, edit=with_hpa)

    def available() -> dict | None:
        found = e2e.json("-n", ns, "get", "deployment", "-l", "jointinferenceservice.sedna.io/worker-type=cloud")["items"]
        return found[0] if found and found[0].get("status", {}).get("availableReplicas") == 2 else None

    deployment = e2e.wait("2 available big-model replicas", available, TIMEOUT, dump_ns=ns)
    e2e.timings["joint_inference hpa: apply -> minReplicas available"] = time.monotonic() - started_at
    assert deployment["metadata"]["name"] == "digits-ji-deployment-cloud" and deployment["spec"]["replicas"] == 2
    got = e2e.json("-n", ns, "get", "hpa", "hpa-digits-ji-deployment-cloud")
    assert got["spec"]["scaleTargetRef"]["name"] == "digits-ji-deployment-cloud"
    assert (got["spec"]["minReplicas"], got["spec"]["maxReplicas"]) == (2, 3)
    e2e.wait_example_done("joint_inference", ns, TIMEOUT)
    e2e.timings["joint_inference hpa: apply -> done"] = time.monotonic() - started_at

    def metrics() -> dict[str, float] | None:
        status = e2e.json("-n", ns, "get", "ji", "digits-ji")["status"]
        found = {m["key"]: float(m["value"]) for m in status.get("metrics") or []}
        return found if found.get("inferenceNumber") == 300 else None

    final = e2e.wait("the edge's final metrics in status", metrics, 60, dump_ns=ns)
    assert 0 < final["hardExampleNumber"] < 300 and final["cloudFailureNumber"] == 0
    cloud = _workers(e2e, ns, "jointinferenceservice.sedna.io/worker-type=cloud")
    assert len(cloud) == 2 and all(p["spec"]["nodeName"] == "cloud-node" for p in cloud)
    e2e.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_incremental_learning(e2e: E2E, started: dict[str, float]) -> None:
    ns = EXAMPLES["incremental_learning"]
    e2e.wait_example_done("incremental_learning", ns, TIMEOUT)
    _took(e2e, started, "incremental_learning")
    status = e2e.json("-n", ns, "get", "il", "digits-il")["status"]
    stages = [(c["stage"], c["type"]) for c in status["conditions"]]
    for stage in ("Train", "Eval", "Deploy"):  # train -> eval -> deploy, each completed
        assert (stage, "Completed") in stages, stages
    assert stages.index(("Train", "Completed")) < stages.index(("Eval", "Completed")) < stages.index(("Deploy", "Completed"))
    pods = _workers(e2e, ns, "incrementallearningjob.sedna.io/name=digits-il")
    roles = sorted(p["metadata"]["labels"]["incrementallearningjob.sedna.io/worker-type"] for p in pods)
    assert roles == ["eval", "inference", "train"]  # one of each: round 1 only, nothing repeated
    assert {p["spec"]["nodeName"] for p in pods} == {"edge-node"}
    inference = next(p for p in pods if p["metadata"]["labels"]["incrementallearningjob.sedna.io/worker-type"] == "inference")

    def hot_updated() -> str | None:
        log = e2e.kubectl("-n", ns, "logs", inference["metadata"]["name"]).stdout
        return log if "serving the hot-updated model" in log else None

    log = e2e.wait("the inference worker to serve the new model", hot_updated, 120, dump_ns=ns)
    before = float(re.search(r"pass 1: accuracy ([0-9.]+)", log).group(1))  # type: ignore[union-attr]
    after = float(re.search(r"serving the hot-updated model: accuracy ([0-9.]+)", log).group(1))  # type: ignore[union-attr]
    assert after > before + 0.05, log[-1500:]
    # The inference pod was updated in place, not restarted.
    live = e2e.json("-n", ns, "get", "pod", inference["metadata"]["name"])
    assert sum(c["restartCount"] for c in live["status"]["containerStatuses"]) == 0
    row = _sedna_row(e2e, ns, "incrementallearningjob.sedna.io/digits-il")
    assert (row["STAGE"], row["STATE"], row["ROUND"]) == ("Deploy", "Completed", "1")


def test_lifelong_learning(e2e: E2E, started: dict[str, float]) -> None:
    ns = EXAMPLES["lifelong_learning"]
    e2e.wait_example_done("lifelong_learning", ns, TIMEOUT)
    _took(e2e, started, "lifelong_learning")
    (pod,) = _workers(e2e, ns, "lifelonglearningjob.sedna.io/worker-type=inference")
    status = e2e.json("-n", ns, "get", "ll", "digits-ll")["status"]
    stages = [(c["stage"], c["type"]) for c in status["conditions"]]
    for stage in ("Train", "Eval", "Deploy"):
        assert (stage, "Completed") in stages, stages
    models = status["knowledgeBase"]["AIModels"]
    assert models["numberOfAIModels"] == 2
    assert {m["modelID"] for m in models["listOfAIModels"]} == {"plain", "inverted"}
    log = e2e.kubectl("-n", ns, "logs", pod["metadata"]["name"], "-c", "infer-worker").stdout
    done = re.search(r"done: (\d+) samples, (\d+) unseen", log)
    assert done, log[-1500:]
    assert (int(done.group(1)), int(done.group(2))) == (120, 40)  # the 40 noisy samples are unseen
    assert "unseen task detected" in log
    row = _sedna_row(e2e, ns, "lifelonglearningjob.sedna.io/digits-ll")
    assert (row["STAGE"], row["STATE"], row["MODELS"]) == ("Deploy", "Completed", "2")
    # The knowledge base (the chart's Deployment on the cloud node) holds the task models.
    kb = e2e.kubectl("get", "--raw", "/api/v1/namespaces/sedna/services/kb:9020/proxy/healthz").stdout
    assert json.loads(kb)["status"] == "ok"
