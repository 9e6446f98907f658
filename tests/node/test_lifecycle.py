"""Run policies on real pods: activeDeadlineSeconds, ttlSecondsAfterFinished, suspend and FL's
scheduling timeout, each applied to an example as a user would (a field added to its manifest,
``kubectl patch`` to resume), the four at once in their own namespaces."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from tests.support.node import E2E, manifest

CASES = {
    "ttl": ("federated_learning", "e2e-life-ttl"),
    "deadline": ("incremental_learning", "e2e-life-deadline"),
    "suspend": ("federated_learning", "e2e-life-suspend"),
    "unschedulable": ("federated_learning", "e2e-life-sched"),
}


def _spec(kind: str, **fields: Any) -> Any:
    def edit(docs: list[dict[str, Any]]) -> None:
        manifest(docs, kind)["spec"].update(fields)

    return edit


def _nowhere(docs: list[dict[str, Any]]) -> None:
    spec = manifest(docs, "FederatedLearningJob")["spec"]
    spec["schedulingTimeoutSeconds"] = 15
    last = spec["trainingWorkers"][-1]
    last["template"] = copy.deepcopy(last["template"])  # the example's trainers share one (a YAML anchor)
    last["template"]["spec"]["nodeName"] = "no-such-node"


def _pods(e2e: E2E, ns: str) -> list[dict[str, Any]]:
    return [p for p in e2e.json("-n", ns, "get", "pods")["items"] if not p["metadata"].get("deletionTimestamp")]


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)


def test_run_policies_on_real_pods(e2e: E2E) -> None:
    for example, ns in CASES.values():
        e2e.stage_example(example, ns)
    edits = {
        "ttl": _spec("FederatedLearningJob", ttlSecondsAfterFinished=5),
        "deadline": _spec("IncrementalLearningJob", activeDeadlineSeconds=8),
        "suspend": _spec("FederatedLearningJob", suspend=True),
        "unschedulable": _nowhere,
    }
    started = {case: e2e.apply_example(CASES[case][0], CASES[case][1], edit=edits[case]) for case in CASES}

    # suspend: no worker runs, the condition says so; resumed, the job runs to its end.
    ns = CASES["suspend"][1]
    e2e.kubectl("-n", ns, "wait", "fl/digits-fedavg", "--for=condition=Suspended", "--timeout=60s", timeout=90)
    time.sleep(3)
    assert _pods(e2e, ns) == []
    e2e.kubectl("-n", ns, "patch", "fl", "digits-fedavg", "--type", "merge", "-p", json.dumps({"spec": {"suspend": False}}))
    e2e.wait_example_done("federated_learning", ns, 300)
    status = e2e.json("-n", ns, "get", "fl", "digits-fedavg")["status"]
    assert status["phase"] == "Succeeded" and status["currentRound"] == 3
    suspended = _condition(status, "Suspended")
    assert suspended is not None and (suspended["status"], suspended["reason"]) == ("False", "JobResumed")

    # activeDeadlineSeconds: the IL job fails at its deadline, its workers deleted.
    ns = CASES["deadline"][1]

    def deadline_failed() -> dict[str, Any] | None:
        status = e2e.json("-n", ns, "get", "il", "digits-il")["status"]
        return status if status.get("completionTime") else None

    status = e2e.wait("the IL job's deadline", deadline_failed, 120, dump_ns=ns)
    assert status["conditions"][-1]["type"] == "Failed" and status["conditions"][-1]["reason"] == "DeadlineExceeded"
    e2e.wait("the IL workers deleted", lambda: _pods(e2e, ns) == [], 60, dump_ns=ns)
    e2e.timings["run policy: IL apply -> DeadlineExceeded (8 s deadline)"] = time.monotonic() - started["deadline"]

    # schedulingTimeoutSeconds: a trainer bound to a node that does not exist fails the job,
    # naming it, instead of the two others waiting for it for ever.
    ns = CASES["unschedulable"][1]
    e2e.kubectl("-n", ns, "wait", "fl/digits-fedavg", "--for=jsonpath={.status.phase}=Failed", "--timeout=120s",
                timeout=150)  # fmt: skip
    last = e2e.json("-n", ns, "get", "fl", "digits-fedavg")["status"]["conditions"][-1]
    assert last["reason"] == "SchedulingTimeout" and "no-such-node" in last["message"], last
    e2e.wait("the FL workers deleted", lambda: _pods(e2e, ns) == [], 60, dump_ns=ns)
    e2e.timings["run policy: FL apply -> SchedulingTimeout (15 s)"] = time.monotonic() - started["unschedulable"]

    # ttlSecondsAfterFinished: the job, and by its owner references its pods and Service, go.
    ns = CASES["ttl"][1]

    def gone() -> bool:
        proc = e2e.kubectl("-n", ns, "get", "fl", "digits-fedavg", check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr

    e2e.wait("the finished FL job deleted by its TTL", gone, 180, dump_ns=ns)
    e2e.wait("its pods and Service collected", lambda: _pods(e2e, ns) == [] and not e2e.json(
        "-n", ns, "get", "services")["items"], 60, dump_ns=ns)  # fmt: skip
    e2e.timings["run policy: FL apply -> deleted by its TTL (5 s)"] = time.monotonic() - started["ttl"]
    for _, ns in CASES.values():
        e2e.kubectl("delete", "namespace", ns, "--wait=false")
