"""Faults on the real node, each with nothing lost and nothing repeated: a worker pod deleted
mid-job, the operator pod deleted mid-job, the edge LC deleted while a worker reports, the FL
aggregator killed. Rounds, reports and model versions are counted from what the cluster holds."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.node import CHART_NAMESPACE, E2E, fl_rounds, manifest, set_env

TIMEOUT = 420.0


def _pods(e2e: E2E, ns: str, kind: str, role: str | None = None) -> list[dict[str, Any]]:
    label = f"{kind}.sedna.io/worker-type={role}" if role else f"{kind}.sedna.io/name"
    return e2e.json("-n", ns, "get", "pods", "-l", label)["items"]


def _names(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["name"] for p in pods}


def _running(e2e: E2E, ns: str, kind: str, role: str) -> dict[str, Any] | None:
    pods = [p for p in _pods(e2e, ns, kind, role) if p["status"]["phase"] == "Running" and not p["metadata"].get("deletionTimestamp")]
    return pods[0] if pods else None


def _events(e2e: E2E, ns: str, reason: str) -> list[dict[str, Any]]:
    items = e2e.json("-n", ns, "get", "events", "--field-selector", f"reason={reason}")["items"]
    return items


def _il_finished_once(e2e: E2E, ns: str) -> dict[str, Any]:
    """Wait for the IL example's hot update; check round 1 ran once (one train, one eval)."""
    e2e.wait_example_done("incremental_learning", ns, TIMEOUT)
    status = e2e.json("-n", ns, "get", "il", "digits-il")["status"]
    assert status["round"] == 1
    assert len(_pods(e2e, ns, "incrementallearningjob", "train")) == 1
    assert len(_pods(e2e, ns, "incrementallearningjob", "eval")) == 1
    completed = [(c["stage"], c["reason"]) for c in status["conditions"] if c["type"] == "Completed"]
    assert len(completed) == len(set(completed)), completed  # no stage completed twice
    return status


def test_deleted_worker_pod_is_recreated_and_the_job_completes(e2e: E2E) -> None:
    ns = "e2e-fault-worker"
    e2e.stage_example("incremental_learning", ns)
    e2e.apply_example("incremental_learning", ns)
    first = e2e.wait("the inference worker", lambda: _running(e2e, ns, "incrementallearningjob", "inference"), 180, dump_ns=ns)
    e2e.kubectl("-n", ns, "delete", "pod", first["metadata"]["name"], "--wait=true", timeout=60)
    _il_finished_once(e2e, ns)
    inference = _pods(e2e, ns, "incrementallearningjob", "inference")
    # A new pod (its name is the same: worker names are deterministic per attempt).
    assert len(inference) == 1 and inference[0]["metadata"]["uid"] != first["metadata"]["uid"]
    name = inference[0]["metadata"]["name"]

    def hot_updated() -> str | None:
        # HotUpdated is set when the LC repoints model_config.json; the worker swaps the model on
        # its next poll and prints after one more pass, so the line follows a few seconds later.
        log = e2e.kubectl("-n", ns, "logs", name).stdout
        return log if "serving the hot-updated model" in log else None

    e2e.wait("the replacement inference worker to serve the new model", hot_updated, 120, dump_ns=ns)
    e2e.kubectl("delete", "namespace", ns, "--wait=false")


def test_operator_deleted_mid_job_the_new_one_resumes(e2e: E2E) -> None:
    ns = "e2e-fault-operator"
    e2e.stage_example("incremental_learning", ns)
    e2e.apply_example("incremental_learning", ns)
    e2e.wait("the train worker", lambda: _pods(e2e, ns, "incrementallearningjob", "train"), 180, dump_ns=ns)
    old = e2e.json("-n", CHART_NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=operator")["items"]
    e2e.kubectl("-n", CHART_NAMESPACE, "delete", "pod", old[0]["metadata"]["name"], "--wait=true", timeout=120)
    e2e.kubectl("-n", CHART_NAMESPACE, "rollout", "status", "deployment/sedna-operator", "--timeout=180s", timeout=200)
    new = e2e.json("-n", CHART_NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=operator")["items"]
    assert _names(new).isdisjoint(_names(old))
    _il_finished_once(e2e, ns)
    assert len(_pods(e2e, ns, "incrementallearningjob", "inference")) == 1
    assert len(_events(e2e, ns, "TrainTriggered")) == 1  # the new operator did not trigger round 1 again
    e2e.kubectl("delete", "namespace", ns, "--wait=false")


def _lc_metric(e2e: E2E, pod: str, owner_kind: str) -> float:
    text = e2e.kubectl("get", "--raw", f"/api/v1/namespaces/{CHART_NAMESPACE}/pods/{pod}:9100/proxy/metrics").stdout
    found = re.search(rf'^sedna_lc_reports_accepted_total{{owner_kind="{owner_kind}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _edge_lc(e2e: E2E) -> dict[str, Any] | None:
    pods = e2e.json("-n", CHART_NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=lc")["items"]
    return next((p for p in pods if p["spec"]["nodeName"] == "edge-node" and not p["metadata"].get("deletionTimestamp")), None)


def test_lc_deleted_while_a_worker_reports_loses_no_report(e2e: E2E) -> None:
    ns = "e2e-fault-lc"
    e2e.stage_example("joint_inference", ns)

    def slow_stream(docs: list[dict[str, Any]]) -> None:
        # The edge worker infers one digit every 0.1 s (30 s in all) and reports every 2 s.
        set_env(manifest(docs, "JointInferenceService")["spec"]["edgeWorker"]["template"], "interval", "0.1")

    e2e.apply_example("joint_inference", ns, edit=slow_stream)

    def first_report() -> bool:
        status = e2e.json("-n", ns, "get", "ji", "digits-ji").get("status") or {}
        return any(m["key"] == "inferenceNumber" and float(m["value"]) > 0 for m in status.get("metrics") or [])

    e2e.wait("a first report of the edge worker", first_report, 180, interval=0.5, dump_ns=ns)
    (edge,) = _pods(e2e, ns, "jointinferenceservice", "edge")
    worker = edge["metadata"]["name"]
    # The DaemonSet would put a new LC on the node within a second or two, possibly between two
    # reports; keep it off the edge node until the worker has had to buffer (OnDelete: the cloud
    # node's LC is not touched), then let it come back.
    ds = e2e.json("-n", CHART_NAMESPACE, "get", "daemonset", "sedna-lc")
    strategy = ds["spec"]["updateStrategy"]
    lc = _edge_lc(e2e)
    assert lc is not None
    not_edge = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["edge-node"]}]}]}}}
    e2e.kubectl("-n", CHART_NAMESPACE, "patch", "daemonset", "sedna-lc", "--type=merge", "-p", json.dumps(
        {"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": None}, "template": {"spec": {"affinity": not_edge}}}}))
    try:
        # (The DaemonSet controller may remove it first: the node no longer matches.)
        e2e.kubectl("-n", CHART_NAMESPACE, "delete", "pod", lc["metadata"]["name"], "--ignore-not-found", "--wait=true", timeout=120)

        def buffering() -> bool:
            return "report(s) buffered" in e2e.kubectl("-n", ns, "logs", worker).stdout

        e2e.wait("the worker to buffer its reports", buffering, 60, interval=1, dump_ns=ns)
    finally:
        e2e.kubectl("-n", CHART_NAMESPACE, "patch", "daemonset", "sedna-lc", "--type=merge", "-p", json.dumps(
            {"spec": {"updateStrategy": strategy, "template": {"spec": {"affinity": None}}}}))
    new_lc = e2e.wait("the edge LC to come back", lambda: (p := _edge_lc(e2e)) and p["status"].get("podIP") and p, 120)

    def edge_done() -> dict[str, Any] | None:
        pods = _pods(e2e, ns, "jointinferenceservice", "edge")
        return pods[0] if pods and pods[0]["status"]["phase"] in ("Succeeded", "Failed") else None

    assert e2e.wait("the edge worker to end", edge_done, TIMEOUT, dump_ns=ns)["status"]["phase"] == "Succeeded"
    log = e2e.kubectl("-n", ns, "logs", worker).stdout
    assert "LC rejected report" not in log
    summary = json.loads(next(line.removeprefix("SUMMARY ") for line in log.splitlines() if line.startswith("SUMMARY ")))

    def final_metrics() -> dict[str, float] | None:
        status = e2e.json("-n", ns, "get", "ji", "digits-ji")["status"]
        got = {m["key"]: float(m["value"]) for m in status.get("metrics") or []}
        return got if got.get("inferenceNumber") == 300 else None

    # Every buffered report reached the new LC, in order, and the last one is in status.
    got = e2e.wait("the final report", final_metrics, 120, dump_ns=ns)
    assert got["hardExampleNumber"] == summary["hard_examples"]
    buffered = max(int(n) for n in re.findall(r"(\d+) report\(s\) buffered", log))
    assert _lc_metric(e2e, new_lc["metadata"]["name"], "JointInferenceService") >= buffered
    report = e2e.json("-n", ns, "get", "ji", "digits-ji")["status"]["reports"][worker]
    assert report["sequence"] > buffered
    e2e.kubectl("delete", "namespace", ns, "--wait=false")


def test_killed_aggregator_is_restarted_and_rounds_continue(e2e: E2E) -> None:
    ns = "e2e-fault-agg"
    rounds = 20
    e2e.stage_example("federated_learning", ns)

    e2e.apply_example("federated_learning", ns, edit=lambda docs: fl_rounds(docs, rounds, epochs=300))

    def some_rounds() -> dict[str, Any] | None:
        status = e2e.json("-n", ns, "get", "fl", "digits-fedavg").get("status") or {}
        if (status.get("currentRound") or 0) >= 2:
            return _running(e2e, ns, "federatedlearningjob", "aggregation")
        return None

    agg = e2e.wait("two rounds", some_rounds, 240, interval=0.5, dump_ns=ns)
    node, container = e2e.pod_container_id(ns, agg["metadata"]["name"])
    e2e.nodes.kill_container(node, container)
    name = agg["metadata"]["name"]

    def restarted() -> str | None:
        # The killed container's log, while its successor runs (the kubelet keeps one dead
        # container per pod until the pod ends).
        pod = e2e.json("-n", ns, "get", "pod", name)
        if sum(c["restartCount"] for c in pod["status"]["containerStatuses"]) < 1:
            return None
        return e2e.kubectl("-n", ns, "logs", name, "--previous").stdout

    previous = e2e.wait("the aggregator's restart", restarted, 120, interval=0.5, dump_ns=ns)
    e2e.wait_example_done("federated_learning", ns, TIMEOUT)
    status = e2e.json("-n", ns, "get", "fl", "digits-fedavg")["status"]
    assert status["currentRound"] == rounds
    numbers = [int(m.group(1)) for c in status["conditions"] if (m := re.match(r"Round (\d+) ", c.get("message", "")))]
    assert numbers == sorted(set(numbers)), numbers  # no round reported twice
    # The kubelet restarted the container in place (an OnFailure pod), once: within maxRestarts.
    (pod,) = _pods(e2e, ns, "federatedlearningjob", "aggregation")
    assert pod["metadata"]["uid"] == agg["metadata"]["uid"]
    assert sum(c["restartCount"] for c in pod["status"]["containerStatuses"]) == 1
    # The killed aggregator's rounds and its successor's: each round closed once, 1..rounds.
    before = [int(n) for n in re.findall(r"aggregation round (\d+) closed", previous)]
    log = e2e.kubectl("-n", ns, "logs", name).stdout
    after = [int(n) for n in re.findall(r"aggregation round (\d+) closed", log)]
    assert before and after and "resuming after round" in log
    # The successor numbers on from the last round a trainer received: a round closed at the
    # instant of the kill (its weights never sent) is done again, once, never more.
    assert after[0] in (before[-1], before[-1] + 1), (before, after)
    assert before == list(range(1, before[-1] + 1)) and after == list(range(after[0], rounds + 1))
    # Every trainer saw it through: no trainer restarted from zero.
    trainers = _pods(e2e, ns, "federatedlearningjob", "train")
    assert len(trainers) == 3 and {p["status"]["phase"] for p in trainers} == {"Succeeded"}
    assert all(c["restartCount"] == 0 for p in trainers for c in p["status"]["containerStatuses"])
    e2e.kubectl("delete", "namespace", ns, "--wait=false")
