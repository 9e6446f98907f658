"""The edge node cut off from the cloud, as Sedna's edge nodes are on unreliable links: the edge
goes on serving (JI answers, IL/LL collect the next round's samples), its reports wait on the edge
node, and everything adds up after the link returns; FL's rounds go on without the edge trainer.

The partition lasts ``SEDNA_E2E_PARTITION_SECONDS`` (default 60 s in CI: longer than the 40 s after
which the control plane marks the node NotReady; 600 for the 10-minute run)."""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.node import E2E, RELATIVE_ROOT, fl_rounds, manifest, set_env

PARTITION = float(os.environ.get("SEDNA_E2E_PARTITION_SECONDS", "60"))
# pytest-timeout's 600 s would cut a 10-minute partition short: the cut plus 10 minutes for the rest.
LONG_ENOUGH = pytest.mark.timeout(int(PARTITION) + 600)
SPOOL = "/var/lib/sedna/lc/lc-status-spool.jsonl"  # the chart's lc.dataDir + the LC's spool file
EDGE = "edge-node"


def _spooled(e2e: E2E) -> int:
    """Status patches the edge LC holds for the API server (its spool file's lines)."""
    try:
        return sum(1 for line in e2e.nodes.read_file(EDGE, SPOOL).splitlines() if line.strip())
    except (OSError, subprocess.CalledProcessError):  # no spool file: nothing waits
        return 0


def _metrics(e2e: E2E, ns: str) -> dict[str, float]:
    status = e2e.json("-n", ns, "get", "ji", "digits-ji").get("status") or {}
    return {m["key"]: float(m["value"]) for m in status.get("metrics") or []}


def _ready(e2e: E2E, ns: str) -> tuple[str, str] | None:
    conditions = e2e.json("-n", ns, "get", "ji", "digits-ji")["status"].get("conditions") or []
    ready = next((c for c in conditions if c["type"] == "Ready"), None)
    return (ready["status"], ready["reason"]) if ready else None


@LONG_ENOUGH
def test_joint_inference_through_a_partition(e2e: E2E) -> None:
    ns = "e2e-partition-ji"
    e2e.stage_example("joint_inference", ns)
    stream_seconds = PARTITION + 90  # the stream outlasts the partition (and its Ready wait)

    def slow_stream(docs: list[dict[str, Any]]) -> None:
        edge = manifest(docs, "JointInferenceService")["spec"]["edgeWorker"]["template"]
        set_env(edge, "interval", f"{stream_seconds / 300:.3f}")
        # Probe the cloud every 2 s, at most 10 s apart, during the partition (default 5..60 s).
        set_env(edge, "CLOUD_RETRY_SECONDS", "2")
        set_env(edge, "CLOUD_RETRY_MAX_SECONDS", "10")

    e2e.apply_example("joint_inference", ns, edit=slow_stream)
    e2e.wait("a first report of the edge worker", lambda: _metrics(e2e, ns).get("inferenceNumber", 0) > 0, 180,
             interval=0.5, dump_ns=ns)  # fmt: skip
    (edge,) = e2e.json("-n", ns, "get", "pods", "-l", "jointinferenceservice.sedna.io/worker-type=edge")["items"]
    worker = edge["metadata"]["name"]
    e2e.wait("the service Ready", lambda: _ready(e2e, ns) == ("True", "WorkersReady"), 60, dump_ns=ns)
    before = _metrics(e2e, ns)

    e2e.nodes.set_link(EDGE, False)
    cut = time.monotonic()
    spooled = 0
    # The service stops being Ready once the node lifecycle controller marks the edge pod not
    # ready (node-monitor-grace-period after the last heartbeat): a long partition waits for it.
    want_not_ready = PARTITION >= 45
    not_ready = False
    try:
        while (elapsed := time.monotonic() - cut) < PARTITION or (want_not_ready and not not_ready and elapsed < PARTITION + 30):
            spooled = max(spooled, _spooled(e2e))
            not_ready = not_ready or _ready(e2e, ns) == ("False", "EdgeWorkerNotReady")
            time.sleep(2)
        # The control plane has lost the edge node meanwhile...
        node = e2e.json("get", "node", EDGE)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] != "True" or PARTITION < 45, ready
        # ...and so the service was not Ready: its edge worker's pod was marked not ready.
        assert not_ready or not want_not_ready, _ready(e2e, ns)
        # ...and heard nothing from the edge worker.
        assert _metrics(e2e, ns)["inferenceNumber"] <= before["inferenceNumber"] + 20
    finally:
        e2e.nodes.set_link(EDGE, True)
    healed = time.monotonic()
    assert spooled > 0, "the edge LC spooled no report while the API server was unreachable"
    # Ready again on its own once the kubelet is heard from (the stream runs a minute longer).
    e2e.wait("the service Ready again", lambda: _ready(e2e, ns) == ("True", "WorkersReady"), 50, dump_ns=ns)

    def edge_done() -> dict[str, Any] | None:
        pods = e2e.json("-n", ns, "get", "pods", "-l", "jointinferenceservice.sedna.io/worker-type=edge")["items"]
        return pods[0] if pods and pods[0]["status"]["phase"] in ("Succeeded", "Failed") else None

    done = e2e.wait("the edge worker to end its stream", edge_done, stream_seconds + 300, interval=2, dump_ns=ns)
    # The same pod throughout: not evicted from the unreachable node, not restarted.
    assert done["metadata"]["uid"] == edge["metadata"]["uid"] and done["status"]["phase"] == "Succeeded"
    assert sum(c["restartCount"] for c in done["status"]["containerStatuses"]) == 0
    log = e2e.kubectl("-n", ns, "logs", worker).stdout
    summary = json.loads(next(line.removeprefix("SUMMARY ") for line in log.splitlines() if line.startswith("SUMMARY ")))
    # The edge answered through the partition (hard examples served from the little model)...
    assert "cloud inference failed" in log
    # ...and went back to the cloud on its own once the link returned.
    assert "cloud reachable again" in log, log[-2000:]

    def final() -> dict[str, float] | None:
        got = _metrics(e2e, ns)
        return got if got.get("inferenceNumber") == 300 else None

    got = e2e.wait("the final counts", final, 120, dump_ns=ns)
    assert got["hardExampleNumber"] == summary["hard_examples"]
    assert 0 < got["cloudFailureNumber"] < got["hardExampleNumber"]
    # Every status patch the edge LC spooled reached the API server: its spool is empty.
    e2e.wait("the edge LC's spool to drain", lambda: _spooled(e2e) == 0, 120)
    report = e2e.json("-n", ns, "get", "ji", "digits-ji")["status"]["reports"][worker]
    assert report["sequence"] >= spooled
    assert re.search(r"cloud inference failed, serving edge results for \d+s", log)
    e2e.timings["partition: link cut"] = healed - cut
    e2e.timings["partition: healed -> stream done"] = time.monotonic() - healed
    e2e.counts["partition: status patches spooled at the edge LC"] = spooled
    e2e.counts["partition: hard examples served at the edge"] = int(got["cloudFailureNumber"])
    e2e.counts["partition: hard examples answered by the cloud"] = int(got["hardExampleNumber"] - got["cloudFailureNumber"])
    e2e.kubectl("delete", "namespace", ns, "--wait=false")


@LONG_ENOUGH
def test_federated_learning_with_a_trainer_cut_off(e2e: E2E) -> None:
    """Two trainers on the cloud node, one on the edge node; the edge is cut off mid-job. The
    rounds go on with the two (the aggregator's round timeout), and the edge trainer rejoins
    later rounds on its own once the link is back; no round is repeated, no worker restarted."""
    ns = "e2e-partition-fl"
    # Rounds of about 2 s (2000 epochs): once the aggregator drops the silent edge trainer (its
    # websocket pings time out after ~40 s) the others go on alone; the job must outlast the
    # partition for the edge trainer to rejoin.
    rounds = 60
    e2e.stage_example("federated_learning", ns)

    def one_on_the_edge(docs: list[dict[str, Any]]) -> None:
        job = fl_rounds(docs, rounds, epochs=2000)
        set_env(job["spec"]["aggregationWorker"]["template"], "ROUND_TIMEOUT_SECONDS", "10")
        for i, worker in enumerate(job["spec"]["trainingWorkers"]):
            node = EDGE if i == 2 else "cloud-node"
            worker["template"]["spec"]["nodeName"] = node
            manifest(docs, "Dataset", worker["dataset"]["name"])["spec"]["nodeName"] = node

    e2e.apply_example("federated_learning", ns, edit=one_on_the_edge)

    def round_(at_least: int) -> bool:
        return (e2e.json("-n", ns, "get", "fl", "digits-fedavg").get("status") or {}).get("currentRound", 0) >= at_least

    e2e.wait("three rounds", lambda: round_(3), 240, interval=0.5, dump_ns=ns)
    e2e.nodes.set_link(EDGE, False)
    try:
        time.sleep(PARTITION)
        during = (e2e.json("-n", ns, "get", "fl", "digits-fedavg").get("status") or {}).get("currentRound", 0)
    finally:
        e2e.nodes.set_link(EDGE, True)
    e2e.wait_example_done("federated_learning", ns, 600)
    status = e2e.json("-n", ns, "get", "fl", "digits-fedavg")["status"]
    assert status["currentRound"] == rounds
    pods = e2e.json("-n", ns, "get", "pods", "-l", "federatedlearningjob.sedna.io/name=digits-fedavg")["items"]
    assert {p["status"]["phase"] for p in pods} == {"Succeeded"} and len(pods) == 4
    assert all(c["restartCount"] == 0 for p in pods for c in p["status"]["containerStatuses"])
    agg = next(p["metadata"]["name"] for p in pods if "-aggregation-" in p["metadata"]["name"])
    closed = [(int(n), reason, int(k)) for n, reason, k in re.findall(
        r"aggregation round (\d+) closed \((\w+)\) with (\d+) client", e2e.kubectl("-n", ns, "logs", agg).stdout)]
    assert [n for n, _, _ in closed] == list(range(1, rounds + 1))  # each round once, in order
    # Rounds went on without the edge trainer during the cut...
    cut_rounds = [n for n, _, k in closed if k == 2]
    assert cut_rounds and during > 3
    # ...and it rejoined: the rounds after those have all three trainers again.
    assert max(cut_rounds) < rounds and all(k == 3 for n, _, k in closed if n > max(cut_rounds))
    e2e.counts["partition (FL): rounds closed without the edge trainer"] = len(cut_rounds)
    e2e.counts["partition (FL): rounds with all three after it rejoined"] = sum(
        1 for n, _, k in closed if k == 3 and n > max(cut_rounds))
    e2e.kubectl("delete", "namespace", ns, "--wait=false")


def _lines(e2e: E2E, path: str) -> list[str]:
    return [line for line in e2e.nodes.read_file(EDGE, path).decode().splitlines() if line.strip()]


def _mount_dataset(template: dict[str, Any], data_dir: str) -> None:
    """The Dataset's directory on the node, writable, at /home/work/dataset in the worker."""
    spec = template["spec"]
    spec.setdefault("volumes", []).append({"name": "dataset", "hostPath": {"path": data_dir}})
    container = spec["containers"][0]
    container.setdefault("volumeMounts", []).append({"name": "dataset", "mountPath": "/home/work/dataset"})
    container["securityContext"] = {"runAsUser": 0}  # the staged index is root's


def _apply_collecting(e2e: E2E, example: str, ns: str, threshold: int, env: dict[str, str]) -> tuple[str, int]:
    """Apply the IL/LL example for two rounds, its inference worker collecting samples into the
    Dataset's index (``env`` says how); returns the index's path on the edge and its length."""
    e2e.stage_example(example, ns)
    data_dir = f"{RELATIVE_ROOT}/{ns}/data"
    index = f"{data_dir}/train.txt"
    initial = len(_lines(e2e, index))

    def collecting(docs: list[dict[str, Any]]) -> None:
        job = next(d for d in docs if d["kind"].endswith("LearningJob"))
        job["spec"]["maxRounds"] = 2
        job["spec"]["trainSpec"]["trigger"]["condition"]["threshold"] = threshold
        template = job["spec"]["deploySpec"]["template"]
        for name, value in env.items():
            set_env(template, name, value)
        _mount_dataset(template, data_dir)

    e2e.apply_example(example, ns, edit=collecting)
    return index, initial


@dataclass
class Collected:
    lines: int  # appended to the Dataset's index while the edge was cut off
    spooled: int  # the most patches the edge LC held at once
    healed: float  # when the link came back (monotonic)
    status: dict[str, Any]  # the job's status once its second round is done


def _collect_through_partition(e2e: E2E, ns: str, job: str, index: str) -> Collected:
    """Cut the edge off for PARTITION seconds while its inference worker collects samples into
    ``index``; then wait for the job's second round (its maxRounds) to be done."""
    e2e.nodes.set_link(EDGE, False)
    cut = time.monotonic()
    at_cut = len(_lines(e2e, index))
    spooled = 0
    try:
        while time.monotonic() - cut < PARTITION:
            spooled = max(spooled, _spooled(e2e))
            time.sleep(2)
        collected = len(_lines(e2e, index)) - at_cut
        assert e2e.json("-n", ns, "get", job)["status"]["round"] == 1  # the control plane saw nothing
    finally:
        e2e.nodes.set_link(EDGE, True)
    healed = time.monotonic()
    # The worker served and collected while the edge was cut off, and the LC held its counts.
    assert collected > 0 and spooled > 0, (collected, spooled)

    def second_round_done() -> dict[str, Any] | None:
        status = e2e.json("-n", ns, "get", job)["status"]
        return status if status.get("round") == 2 and status.get("completionTime") else None

    status = e2e.wait("the second round (maxRounds 2)", second_round_done, 600, interval=2, dump_ns=ns)
    return Collected(collected, spooled, healed, status)


@LONG_ENOUGH
def test_incremental_learning_through_a_partition(e2e: E2E) -> None:
    """The IL example's inference worker, on the edge, goes on serving while the edge is cut off
    and appends the hard examples it meets to its Dataset's index (as an edge site collects data
    for the next round); the edge LC's counts wait in its spool; after the heal the train trigger
    fires a second round whose training data are exactly those samples."""
    ns = "e2e-partition-il"
    index, initial = _apply_collecting(e2e, "incremental_learning", ns, threshold=50, env={
        "hard_example_index": "/home/work/dataset/train.txt",
        "collect_after_update": "15",  # the link is cut before it starts
        "updates_to_serve": "2",
        "max_seconds": "900",
    })  # fmt: skip
    e2e.kubectl("-n", ns, "wait", "il/digits-il", "--for=jsonpath={.status.conditions[-1:].reason}=HotUpdated",
                "--timeout=300s", timeout=330)  # fmt: skip
    (infer,) = e2e.json("-n", ns, "get", "pods", "-l", "incrementallearningjob.sedna.io/worker-type=inference")["items"]

    got = _collect_through_partition(e2e, ns, "il/digits-il", index)
    stages = [(c["type"], c.get("stage")) for c in got.status["conditions"]]
    assert ("Completed", "Train") in stages[stages.index(("Completed", "Deploy")) + 1 :]  # round 2 trained
    # Round 2 trained on the samples appended after round 1: the head of what the worker collected.
    appended = _lines(e2e, index)[initial:]
    trained = _lines(e2e, f"{RELATIVE_ROOT}/{ns}/output/data/train/2/data.txt")
    assert trained and trained == appended[: len(trained)], (trained[:5], appended[:5])
    # The same inference pod throughout, never restarted.
    (after,) = e2e.json("-n", ns, "get", "pods", "-l", "incrementallearningjob.sedna.io/worker-type=inference")["items"]
    assert after["metadata"]["uid"] == infer["metadata"]["uid"]
    assert sum(c["restartCount"] for c in after["status"]["containerStatuses"]) == 0
    e2e.timings["partition (IL): healed -> round 2 done"] = time.monotonic() - got.healed
    e2e.counts["partition (IL): hard examples collected at the edge while cut off"] = got.lines
    e2e.counts["partition (IL): dataset/status patches spooled at the edge LC"] = got.spooled
    e2e.counts["partition (IL): samples round 2 trained on"] = len(trained)
    e2e.kubectl("delete", "namespace", ns, "--wait=false")


@LONG_ENOUGH
def test_lifelong_learning_through_a_partition(e2e: E2E) -> None:
    """The LL example's inference worker, on the edge, goes on serving while the edge is cut off
    and appends every sample it recognises as an unseen task to its Dataset (labelled later, as
    an edge site would); the edge LC's counts wait in its spool; after the heal a second round
    trains on exactly those samples and the knowledge base learns their task."""
    ns = "e2e-partition-ll"
    index, initial = _apply_collecting(e2e, "lifelong_learning", ns, threshold=20, env={
        "unseen_sample_index": "/home/work/dataset/train.txt",
        "collect_after_seconds": "15",  # the link is cut before it starts
        "serve_seconds": str(int(PARTITION + 300)),
    })  # fmt: skip
    label = "lifelonglearningjob.sedna.io/worker-type=inference"

    def serving() -> dict[str, Any] | None:
        status = e2e.json("-n", ns, "get", "ll", "digits-ll").get("status") or {}
        if ("Completed", "Deploy") not in [(c["type"], c.get("stage")) for c in status.get("conditions") or []]:
            return None
        pods = [p for p in e2e.json("-n", ns, "get", "pods", "-l", label)["items"]
                if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
        return pods[0] if pods else None

    infer = e2e.wait("round 1 deployed and the inference worker serving", serving, 300, interval=0.5, dump_ns=ns)
    got = _collect_through_partition(e2e, ns, "ll/digits-ll", index)
    appended = _lines(e2e, index)[initial:]
    # The unseen domain and only it, each of its 40 stream samples once.
    assert len(appended) == len(set(appended)) == 40 and all(line.endswith(" noisy") for line in appended)
    trained = _lines(e2e, f"{RELATIVE_ROOT}/{ns}/output/data/train/2/data.txt")
    assert trained and trained == appended[: len(trained)], (trained[:5], appended[:5])
    models = [m["modelID"] for m in got.status["knowledgeBase"]["AIModels"]["listOfAIModels"]]
    assert "noisy" in models, got.status["knowledgeBase"]  # the task it had never seen, learned
    assert len(models) == 3, models  # ...and round 1's two tasks are still listed
    # The inference pod served the whole partition, and round 2's knowledge base was swapped into
    # it in place (issue 11 item 4): the same pod, never restarted.
    deploys = [c for c in got.status["conditions"] if c["type"] == "Completed" and c.get("stage") == "Deploy"]
    assert [c["reason"] for c in deploys][-1] == "HotUpdated", deploys
    pods = {p["metadata"]["uid"]: p for p in e2e.json("-n", ns, "get", "pods", "-l", label)["items"]}
    assert list(pods) == [infer["metadata"]["uid"]], list(pods)
    assert sum(c["restartCount"] for c in pods[infer["metadata"]["uid"]]["status"]["containerStatuses"]) == 0

    def unseen_counted() -> int | None:
        kb = (e2e.json("-n", ns, "get", "ll", "digits-ll").get("status") or {}).get("knowledgeBase") or {}
        count = int((kb.get("samples") or {}).get("numberOfUnseenSample") or 0)
        return count if count >= 40 else None  # every pass over the stream meets the 40 again

    unseen = e2e.wait("the inference worker's unseen count in the status", unseen_counted, 120, interval=2, dump_ns=ns)
    e2e.counts["partition (LL): numberOfUnseenSample reported by the inference worker"] = unseen
    e2e.timings["partition (LL): healed -> round 2 done"] = time.monotonic() - got.healed
    e2e.counts["partition (LL): unseen samples collected at the edge while cut off"] = got.lines
    e2e.counts["partition (LL): dataset/status patches spooled at the edge LC"] = got.spooled
    e2e.counts["partition (LL): samples round 2 trained on"] = len(trained)
    e2e.counts["partition (LL): task models in the knowledge base after round 2"] = len(models)
    e2e.kubectl("delete", "namespace", ns, "--wait=false")


LOSS = float(os.environ.get("SEDNA_E2E_LINK_LOSS_PERCENT", "5"))
DELAY = float(os.environ.get("SEDNA_E2E_LINK_DELAY_MS", "200"))


def _connect_ms(address: str, port: int = 10250, samples: int = 5) -> float:
    """Median time of a TCP connect to the edge node's kubelet: one round trip over the link."""
    times = []
    for _ in range(samples):
        started = time.monotonic()
        with socket.create_connection((address, port), timeout=10):
            times.append((time.monotonic() - started) * 1000)
    return statistics.median(times)


def test_the_link_dial_delays_each_way(e2e: E2E) -> None:
    """``set_quality`` really slows the link: a round trip to the edge node takes the delay twice
    (once each way), and restoring the link takes it away again."""
    node = e2e.json("get", "node", EDGE)
    address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    before = _connect_ms(address)
    how = e2e.nodes.set_quality(EDGE, 0, 100)
    try:
        slowed = _connect_ms(address)
    finally:
        e2e.nodes.set_quality(EDGE)
    after = _connect_ms(address)
    assert before < 50 and after < 50, (before, after)
    assert 190 <= slowed < 400, (how, slowed)  # 2 x 100 ms, plus the machine's own time
    e2e.counts["link dial: round trip (ms) with 100 ms each way"] = round(slowed)
    e2e.counts["link dial: round trip (ms) restored"] = round(after)


def test_examples_complete_over_a_lossy_link(e2e: E2E) -> None:
    """The four examples again, concurrently, with the edge link dropping 5% of the packets and
    delaying every one by 200 ms, each way."""
    examples = {"federated_learning": "e2e-lossy-fl", "joint_inference": "e2e-lossy-ji",
                "incremental_learning": "e2e-lossy-il", "lifelong_learning": "e2e-lossy-ll"}
    for example, ns in examples.items():
        e2e.stage_example(example, ns)
    how = e2e.nodes.set_quality(EDGE, LOSS, DELAY)
    try:
        started = {example: e2e.apply_example(example, ns) for example, ns in examples.items()}
        for example, ns in examples.items():
            e2e.wait_example_done(example, ns, 600)
            e2e.timings[f"{example} over the lossy link ({how})"] = time.monotonic() - started[example]
    finally:
        e2e.nodes.set_quality(EDGE)
    # What the examples assert on a clean link holds on the lossy one (the key numbers).
    fl = e2e.json("-n", examples["federated_learning"], "get", "fl", "digits-fedavg")["status"]
    assert fl["phase"] == "Succeeded" and fl["currentRound"] == 3
    ji = {m["key"]: float(m["value"]) for m in e2e.json("-n", examples["joint_inference"], "get", "ji", "digits-ji")["status"]["metrics"]}
    assert ji["inferenceNumber"] == 300
    il = e2e.json("-n", examples["incremental_learning"], "get", "il", "digits-il")["status"]
    assert il["conditions"][-1]["reason"] == "HotUpdated" and il["round"] == 1
    ll = e2e.json("-n", examples["lifelong_learning"], "get", "ll", "digits-ll")["status"]
    assert ll["knowledgeBase"]["AIModels"]["numberOfAIModels"] == 2
    for ns in examples.values():
        e2e.kubectl("delete", "namespace", ns, "--wait=false")
