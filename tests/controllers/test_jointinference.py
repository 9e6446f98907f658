"""JointInferenceService: table of (state, observation) -> plan, and the pods built from Sedna's sample."""

from __future__ import annotations

from typing import Any

import pytest

from sedna_operator.controllers import jointinference as ji
from sedna_operator.controllers.plan import Plan

from .helpers import NOW, apply, env_of, last_condition, later, model, observe, report, sample, worker_from

SAMPLE = "jointinferenceservice_v1alpha1.yaml"
MODELS = {
    "helmet-detection-inference-little-model": model("helmet-detection-inference-little-model", "s3://kubeedge/little/m.pb", cred="mysecret"),
    "helmet-detection-inference-big-model": model("helmet-detection-inference-big-model", "/data/big/yolov3.pb"),
}


def first() -> tuple[dict[str, Any], Plan]:
    obj = sample(SAMPLE)
    return obj, ji.reconcile(observe(obj, models=MODELS))


def test_pods_from_sample_field_by_field() -> None:
    _, plan = first()
    cloud, edge = plan.create_workers
    assert (cloud.role, edge.role) == ("cloud", "edge")
    assert cloud.name.startswith("helmet-detection-inference-example-cloud-")
    meta = edge.pod["metadata"]
    assert meta["labels"]["jointinferenceservice.sedna.io/name"] == "helmet-detection-inference-example"
    assert meta["labels"]["jointinferenceservice.sedna.io/worker-type"] == "edge"
    assert meta["ownerReferences"][0]["kind"] == "JointInferenceService"
    ce, ee = env_of(cloud.pod), env_of(edge.pod)
    assert ce["BIG_MODEL_BIND_PORT"] == "5000" and ce["MODEL_URL"] == "/home/data/data/big/yolov3.pb"
    assert ee["BIG_MODEL_IP"] == "helmet-detection-inference-example-cloud.default" and ee["BIG_MODEL_PORT"] == "5000"
    assert ee["HEM_NAME"] == "IBT"
    assert ee["HEM_PARAMETERS"] == '[{"key":"threshold_img","value":"0.5"},{"key":"threshold_box","value":"0.5"}]'
    assert ee["MODEL_URL"] == "/downloads/kubeedge/little/m.pb"
    for e in (ce, ee):
        assert e["NAMESPACE"] == "default" and e["SERVICE_NAME"] == e["JOB_NAME"] == "helmet-detection-inference-example"
        assert e["LC_SERVER"] == "http://$(NODE_IP):9100"
    assert ee["input_shape"] == "416,736"  # user env kept
    spec = edge.pod["spec"]
    assert spec["nodeName"] == "edge-node" and spec["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert {v["name"] for v in spec["volumes"]} >= {"outputdir", "localvideo", "sedna-storage-initializer"}
    assert spec["initContainers"][0]["args"] == ["s3://kubeedge/little/m.pb", "/downloads/kubeedge/little"]
    assert "restartPolicy" not in spec and "hostNetwork" not in spec
    assert [s.name for s in plan.services] == ["helmet-detection-inference-example-cloud"]
    assert plan.status_patch["conditions"][-1]["type"] == "Pending"
    assert plan.status_patch["observedGeneration"] == 1 and "startTime" in plan.status_patch


def scenario(name: str) -> tuple[dict[str, Any], Any]:
    obj, plan = first()
    obj = apply(obj, plan)
    cloud, edge = plan.create_workers
    running = [worker_from(cloud), worker_from(edge)]
    if name == "all running":
        return obj, observe(obj, models=MODELS, workers=running)
    if name == "edge failed":
        return obj, observe(obj, models=MODELS, workers=[worker_from(cloud), worker_from(edge, "Failed")])
    if name == "edge deleted":
        return obj, observe(obj, models=MODELS, workers=[worker_from(cloud)])
    if name == "edge terminating":
        return obj, observe(obj, models=MODELS, workers=[worker_from(cloud), worker_from(edge, deleting=True)])
    if name == "spec edit cloud":
        obj["spec"]["cloudWorker"]["template"]["spec"]["containers"][0]["image"] = "big:v2"
        obj["metadata"]["generation"] = 2
        return obj, observe(obj, models=MODELS, workers=running)
    if name == "model missing":
        return obj, observe(obj, models={}, workers=[])
    if name == "metrics report":
        rep = report(edge.name, "inference", "running", owner_info={
            "inferenceNumber": 10, "hardExampleNumber": 3, "uploadCloudRatio": 0.3, "startTime": "x", "updateTime": "y"})
        return obj, observe(obj, models=MODELS, workers=running, reports={edge.name: rep})
    raise KeyError(name)


# name -> (created roles, deleted count, new condition type or None, extra status fields)
TABLE = [
    ("all running", [], 0, "Running", {"active": 2}),
    ("edge failed", ["edge"], 1, "Failed", {"failed": 1}),
    ("edge deleted", ["edge"], 0, None, {}),
    ("edge terminating", [], 0, None, {}),
    ("spec edit cloud", ["cloud"], 1, None, {"observedGeneration": 2, "active": 1}),
    ("model missing", [], 0, None, {}),
    ("metrics report", [], 0, "Running", {"metrics": [
        {"key": "hardExampleNumber", "value": "3"}, {"key": "inferenceNumber", "value": "10"},
        {"key": "uploadCloudRatio", "value": "0.3"}]}),
]


@pytest.mark.parametrize("name,created,deleted,ctype,fields", TABLE, ids=[t[0] for t in TABLE])
def test_transitions(name: str, created: list[str], deleted: int, ctype: str | None, fields: dict[str, Any]) -> None:
    obj, obs = scenario(name)
    plan = ji.reconcile(obs)
    assert [w.role for w in plan.create_workers] == created
    assert len(plan.delete_workers) == deleted
    conds = plan.status_patch.get("conditions")
    before = [c for c in obj["status"]["conditions"] if c["type"] != "Ready"]
    history = [c for c in conds or obj["status"]["conditions"] if c["type"] != "Ready"]
    if ctype is None:
        assert history == before  # at most the Ready condition changed
    else:
        assert history[-1]["type"] == ctype and plan.events
    for k, v in fields.items():
        assert plan.status_patch[k] == v
    assert not plan.finished


def test_replacement_gets_a_new_name_and_is_idempotent() -> None:
    obj, obs = scenario("edge failed")
    plan = ji.reconcile(obs)
    new = plan.create_workers[0]
    assert new.name != plan.delete_workers[0]
    assert plan.status_patch["controllerState"]["attempts"] == {"edge": 1}
    obj2 = apply(obj, plan)
    again = ji.reconcile(observe(obj2, models=MODELS, workers=obs.workers[:1]))  # the new pod not seen yet
    assert [w.name for w in again.create_workers] == [new.name]  # same name: creating twice is a no-op


def test_recovery_after_failure_returns_to_running() -> None:
    obj, obs = scenario("edge failed")
    plan = ji.reconcile(obs)
    obj = apply(obj, plan)
    workers = [obs.workers[0], worker_from(plan.create_workers[0])]
    plan2 = ji.reconcile(observe(obj, models=MODELS, workers=workers))
    assert plan2.status_patch["conditions"][-1]["type"] == "Running"
    assert plan2.status_patch["failed"] == 0
    assert last_condition(apply(obj, plan2)) == ("Running", None)


def test_cleanup() -> None:
    _, obs = scenario("all running")
    plan = ji.cleanup(obs)
    assert len(plan.delete_workers) == 2 and plan.delete_services == ["helmet-detection-inference-example-cloud"]


def ready_pass(obj: dict[str, Any], cloud_ready: bool | None, edge_phase: str = "Running") -> tuple[dict[str, Any], Plan]:
    _, plan = first()
    cloud, edge = plan.create_workers
    workers = [worker_from(cloud, ready=cloud_ready), worker_from(edge, edge_phase)]
    plan = ji.reconcile(observe(obj, models=MODELS, workers=workers))
    return apply(obj, plan), plan


def ready_of(obj: dict[str, Any]) -> dict[str, Any]:
    conds = obj["status"]["conditions"]
    assert [c["type"] for c in conds].count("Ready") == 1 and conds[0]["type"] == "Ready"
    return conds[0]


def test_big_model_gets_a_tcp_readiness_probe_and_the_edge_none() -> None:
    _, plan = first()
    cloud, edge = plan.create_workers
    assert cloud.pod["spec"]["containers"][0]["readinessProbe"]["tcpSocket"] == {"port": ji.BIG_MODEL_PORT}
    assert "readinessProbe" not in edge.pod["spec"]["containers"][0]
    assert plan.status_patch["cloudServiceURL"] == "http://helmet-detection-inference-example-cloud.default:5000"


def test_a_template_probe_is_kept() -> None:
    obj = sample(SAMPLE)
    own = {"httpGet": {"path": "/ready", "port": 5000}}
    obj["spec"]["cloudWorker"]["template"]["spec"]["containers"][0]["readinessProbe"] = own
    cloud = ji.reconcile(observe(obj, models=MODELS)).create_workers[0]
    assert cloud.pod["spec"]["containers"][0]["readinessProbe"] == own


def test_ready_condition_follows_the_big_model() -> None:
    obj, plan = first()
    obj = apply(obj, plan)
    assert ready_of(obj)["status"] == "False"
    # Running but not yet listening: the state is Running, the service is not Ready.
    obj, plan = ready_pass(obj, cloud_ready=False)
    assert last_condition(obj) == ("Running", None)
    cond = ready_of(obj)
    assert (cond["status"], cond["reason"]) == ("False", "CloudWorkerNotReady")
    assert "accepting connections" in cond["message"]
    obj, plan = ready_pass(obj, cloud_ready=True)
    cond = ready_of(obj)
    assert (cond["status"], cond["reason"]) == ("True", "WorkersReady")
    assert any(e.reason == "WorkersReady" for e in plan.events)
    # Nothing changed: nothing written.
    again = ji.reconcile(observe(obj, models=MODELS, workers=[
        worker_from(p, ready=True) if p.role == "cloud" else worker_from(p) for p in first()[1].create_workers]))
    assert "conditions" not in again.status_patch
    # The big model stops answering: Ready flips back, a warning says so, the state stays Running.
    obj, plan = ready_pass(obj, cloud_ready=False)
    assert ready_of(obj)["status"] == "False" and last_condition(obj) == ("Running", None)
    assert any(e.type == "Warning" and e.reason == "CloudWorkerNotReady" for e in plan.events)


def test_ready_condition_stays_first_when_history_is_capped() -> None:
    from sedna_operator.controllers.common import MAX_CONDITIONS
    from sedna_operator.controllers.readiness import Readiness, with_ready

    history = [{"type": "Running" if i % 2 else "Failed"} for i in range(MAX_CONDITIONS)]
    out = with_ready(history, None, Readiness(True, "WorkersReady", "ok"), NOW)
    assert len(out) == MAX_CONDITIONS and out[0]["type"] == "Ready" and out[-1] == history[-1]
    flipped = with_ready(out[1:], out[0], Readiness(True, "WorkersReady", "other message"), later(5))
    assert flipped[0]["lastTransitionTime"] == out[0]["lastTransitionTime"]  # status did not flip
    flipped = with_ready(out[1:], out[0], Readiness(False, "CloudWorkerNotReady", "gone"), later(9))
    assert flipped[0]["lastTransitionTime"] != out[0]["lastTransitionTime"]
