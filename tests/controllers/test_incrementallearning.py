"""IncrementalLearningJob: the Train -> Eval -> Deploy cycle, step by step, with its failure paths."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from sedna_operator.controllers import incrementallearning as il
from sedna_operator.controllers.plan import ObservedWorker, Plan, WorkerReport
from sedna_operator.controllers.state import IncrementalState

from .helpers import (
    NOW,
    apply,
    dataset,
    env_of,
    last_condition,
    later,
    model,
    observe,
    report,
    sample,
    worker_from,
)

MODELS = {
    "initial-model": model("initial-model", "/models/base/model.pb"),
    "deploy-model": model("deploy-model", "/models/deploy/model.pb"),
}
DS = "incremental-dataset"


class Sim:
    """A tiny runtime: applies plans (status, creations, deletions) and lets tests inject events."""

    def __init__(self, obj: dict[str, Any], samples: int = 0, now: datetime = NOW, **kw: Any) -> None:
        self.obj, self.samples, self.now = obj, samples, now
        self.workers: dict[str, ObservedWorker] = {}
        self.reports: dict[str, WorkerReport] = {}
        self.kw = kw
        self.plan = Plan()

    def step(self) -> Plan:
        obs = observe(self.obj, now=self.now, workers=list(self.workers.values()), reports=self.reports,
                      models=MODELS, datasets={DS: dataset(DS, "/data/train.txt", self.samples)}, **self.kw)
        self.plan = il.reconcile(obs)
        self.obj = apply(self.obj, self.plan)
        for name in self.plan.delete_workers:
            self.workers.pop(name, None)
        for w in self.plan.create_workers:
            self.workers[w.name] = worker_from(w, "Running")
        return self.plan

    def until(self, ctype: str, stage: str, limit: int = 12) -> None:
        for _ in range(limit):
            if last_condition(self.obj) == (ctype, stage):
                return
            self.step()
        raise AssertionError(f"never reached {ctype}/{stage}: at {last_condition(self.obj)}")

    def role(self, role: str) -> ObservedWorker:
        return next(w for w in self.workers.values() if w.role == role)

    def report(self, role: str, kind: str, status: str, results: list[dict[str, Any]] | None = None) -> None:
        w = self.role(role)
        self.reports[w.name] = report(w.name, kind, status, results=results, at=self.now)

    @property
    def state(self) -> dict[str, Any]:
        return self.obj["status"].get("controllerState", {})


def job(**spec: Any) -> dict[str, Any]:
    obj = sample("incrementallearningjob_v1alpha1.yaml")
    obj["spec"]["trainSpec"]["trigger"]["timer"] = {"start": "00:00", "end": "24:00"}
    obj["spec"].update(spec)
    return obj


def trained(sim: Sim) -> None:
    sim.until("Starting", "Train")
    sim.report("train", "train", "completed", [{"format": "pb", "url": "/output/train/1/model.pb", "metrics": {}}])


def evaluated(sim: Sim, new: list[float], old: list[float]) -> None:
    sim.until("Starting", "Eval")
    sim.report("eval", "eval", "completed", [{"url": "/output/train/1/model.pb", "metrics": {"precision": new}},
                                             {"url": "/models/deploy/model.pb", "metrics": {"precision": old}}])


def test_start_creates_inference_worker_and_waits() -> None:
    sim = Sim(job(), samples=0)
    plan = sim.step()
    assert last_condition(sim.obj) == ("Waiting", "Train") and plan.status_patch["round"] == 0
    inf = plan.create_workers[0]
    assert inf.role == "inference" and inf.name.startswith("helmet-detection-demo-inference-")
    e = env_of(inf.pod)
    assert e["MODEL_URL"] == "/home/data/models/deploy/model.pb" and e["HEM_NAME"] == "IBT" and e["HEM_PARAMETERS"] == "[]"
    assert e["JOB_NAME"] == "helmet-detection-demo" and e["NAMESPACE"] == "default"
    assert inf.pod["spec"]["hostNetwork"] is True
    assert "MODEL_HOT_UPDATE" not in e
    plan = sim.step()  # 0 samples: trigger does not fire; look again after the check period
    assert last_condition(sim.obj) == ("Waiting", "Train") and plan.requeue_after == 60.0
    assert sim.state["lastCheck"]


# (setup, expected last condition, note)
def _never_fires(sim: Sim) -> None:
    sim.samples = 600  # 600 * 0.8 = 480 <= 500
    for _ in range(3):
        sim.step()


def _window_closed(sim: Sim) -> None:
    sim.obj["spec"]["trainSpec"]["trigger"]["timer"] = {"start": "02:00", "end": "06:00"}
    sim.samples = 1000
    sim.step()
    sim.step()


def _not_due(sim: Sim) -> None:
    sim.step()
    sim.step()  # first evaluation (0 samples) records lastCheck
    sim.samples = 1000
    sim.now = later(30)  # checkPeriodSeconds 60 not elapsed since the first check
    sim.step()


@pytest.mark.parametrize("setup,expected", [
    (_never_fires, ("Waiting", "Train")),
    (_window_closed, ("Waiting", "Train")),
    (_not_due, ("Waiting", "Train")),
])
def test_train_trigger_does_not_fire(setup: Any, expected: tuple[str, str]) -> None:
    sim = Sim(job())
    setup(sim)
    assert last_condition(sim.obj) == expected
    assert sim.plan.requeue_after and sim.plan.requeue_after > 0
    assert not any(w.role == "train" for w in sim.workers.values())


def test_window_closed_requeues_until_it_opens() -> None:
    sim = Sim(job())
    _window_closed(sim)
    assert sim.plan.requeue_after == 14 * 3600  # 12:00 -> 02:00


def test_full_round_with_restart_deploy() -> None:
    sim = Sim(job(), samples=1000)
    sim.until("Ready", "Train")
    assert sim.obj["status"]["round"] == 1
    rd = sim.state["roundData"]
    assert rd == {"round": 1, "dataset": DS, "from": 0, "to": 1000, "trainProb": 0.8,
                  "train": "/output/data/train/1/data.txt", "eval": "/output/data/eval/1/data.txt"}
    sim.step()
    train = sim.role("train")
    e = env_of(next(w for w in sim.plan.create_workers if w.role == "train").pod)
    assert e["BASE_MODEL_URL"] == "/home/data/models/base/model.pb"
    assert e["MODEL_URL"] == "/home/data/output/train/1"
    assert e["TRAIN_DATASET_URL"] == "/home/data/output/data/train/1/data.txt"
    assert e["ORIGINAL_DATASET_URL"] == "/home/data/data/train.txt"
    assert train.name.startswith("helmet-detection-demo-train-")
    trained(sim)
    sim.until("Starting", "Eval")
    e = env_of(next(w for w in sim.plan.create_workers if w.role == "eval").pod)
    assert e["MODEL_URLS"] == "/home/data/output/train/1/model.pb;/home/data/models/deploy/model.pb"
    assert e["TEST_DATASET_URL"] == "/home/data/output/data/eval/1/data.txt"
    old_inference = sim.role("inference").name
    evaluated(sim, [0.9, 0.8], [0.7, 0.6])  # deltas 0.2 on every class > 0.1
    sim.until("Ready", "Deploy")
    sim.step()
    assert last_condition(sim.obj) == ("Completed", "Deploy")
    assert old_inference in sim.plan.delete_workers
    new_inf = next(w for w in sim.plan.create_workers if w.role == "inference")
    assert env_of(new_inf.pod)["MODEL_URL"] == "/home/data/output/train/1/model.pb"
    sim.step()
    assert last_condition(sim.obj) == ("Waiting", "Train") and sim.state["completedRounds"] == 1


@pytest.mark.parametrize("new,old,deployed", [
    ([0.9, 0.8], [0.7, 0.75], False),  # one class improved by only 0.05: not every element holds
    ([0.9], [0.85], False),
    ([0.9, 0.9], [0.7, 0.7], True),
])
def test_deploy_trigger_on_list_deltas(new: list[float], old: list[float], deployed: bool) -> None:
    sim = Sim(job(), samples=1000)
    trained(sim)
    evaluated(sim, new, old)
    sim.until("Waiting", "Deploy")
    sim.step()
    assert last_condition(sim.obj) == (("Ready", "Deploy") if deployed else ("Completed", "Deploy"))


def test_indexed_deploy_metric() -> None:
    obj = job()
    obj["spec"]["deploySpec"]["trigger"]["condition"]["metric"] = "precision_delta[1]"
    sim = Sim(obj, samples=1000)
    trained(sim)
    evaluated(sim, [0.7, 0.9], [0.7, 0.7])
    sim.until("Waiting", "Deploy")
    sim.step()
    assert last_condition(sim.obj) == ("Ready", "Deploy")


@pytest.mark.parametrize("how", ["report", "pod", "crashloop"])
def test_worker_failure_goes_back_to_train_and_retrains_samples(how: str) -> None:
    sim = Sim(job(), samples=1000)
    sim.until("Starting", "Train")
    w = sim.role("train")
    if how == "report":
        sim.report("train", "train", "failed")
    elif how == "pod":
        sim.workers[w.name] = w.model_copy(update={"phase": "Failed"})
    else:
        sim.workers[w.name] = w.model_copy(update={"restarts": 4})
    sim.step()
    assert last_condition(sim.obj) == ("Failed", "Train") and sim.plan.events[-1].type == "Warning"
    sim.step()
    assert last_condition(sim.obj) == ("Waiting", "Train") and sim.plan.events[-1].reason == "RoundFailed"
    # the failed round's samples count again (0 is the default: not written)
    assert IncrementalState.from_wire(sim.state).baseline == 0
    sim.now = later(61)
    sim.until("Ready", "Train")
    assert sim.obj["status"]["round"] == 2


def test_deleted_stage_worker_is_recreated() -> None:
    sim = Sim(job(), samples=1000)
    sim.until("Starting", "Train")
    name = sim.role("train").name
    del sim.workers[name]
    plan = sim.step()
    assert [w.name for w in plan.create_workers] == [name]


def test_succeeded_without_report_waits_then_uses_output_dir() -> None:
    sim = Sim(job(), samples=1000)
    sim.until("Starting", "Train")
    w = sim.role("train")
    sim.workers[w.name] = w.model_copy(update={"phase": "Succeeded"})
    sim.step()
    assert last_condition(sim.obj) == ("Starting", "Train")
    sim.now = later(31)
    sim.step()
    assert last_condition(sim.obj) == ("Completed", "Train")
    assert sim.state["trained"][0]["url"] == "/output/train/1"


def test_hot_update_cycle() -> None:
    obj = job()
    obj["spec"]["deploySpec"]["model"]["hotUpdateEnabled"] = True
    obj["spec"]["deploySpec"]["model"]["pollPeriodSeconds"] = 30
    sim = Sim(obj, samples=1000)
    plan = sim.step()
    inf = plan.create_workers[0]
    e = env_of(inf.pod)
    assert (e["MODEL_HOT_UPDATE"], e["MODEL_POLL_PERIOD_SECONDS"], e["MODEL_HOT_UPDATE_CONFIG"]) == (
        "true", "30", "/model-hot-update/model_config.json")
    vol = next(v for v in inf.pod["spec"]["volumes"] if v["name"] == "sedna-model-hot-update-volume")
    # Sedna's path plus the job's uid: a later job of the same name never reads this one's config.
    uid = sim.obj["metadata"]["uid"]
    assert vol["hostPath"]["path"] == f"/var/lib/sedna/model-hot-update/default/incrementallearningjob/helmet-detection-demo/{uid}/"
    assert plan.annotations["sedna.io/model-hot-update-config"].endswith(f"helmet-detection-demo/{uid}/model_config.json")
    trained(sim)
    evaluated(sim, [0.9], [0.1])
    sim.until("Starting", "Deploy")
    request = sim.state["deploy"]
    assert request["kind"] == "hotUpdate" and request["source"] == "/output/train/1/model.pb"
    assert request["modelPath"] == "/model-hot-update/model.pb"
    name = sim.role("inference").name
    sim.step()
    assert last_condition(sim.obj) == ("Running", "Deploy")
    sim.now = later(5)
    sim.report("inference", "deploy", "completed")
    sim.step()
    assert last_condition(sim.obj) == ("Completed", "Deploy")
    assert sim.role("inference").name == name  # not restarted


@pytest.mark.parametrize("copied", [True, None])
def test_hot_update_with_the_inference_worker_ended_completes(copied: bool | None) -> None:
    """Issue 12 item 4: an inference worker that has ended never reports the update; the
    deploy completes once the LC has put the model in place (unknown on a runtime that does
    not say) instead of waiting forever."""
    obj = job(maxRounds=1)
    obj["spec"]["deploySpec"]["model"]["hotUpdateEnabled"] = True
    lc_files: dict[str, bool] = {}
    sim = Sim(obj, samples=1000, lc_files=lc_files)
    trained(sim)
    evaluated(sim, [0.9], [0.1])
    sim.until("Starting", "Deploy")
    target = sim.state["deploy"]["target"]
    w = sim.role("inference")
    sim.workers[w.name] = w.model_copy(update={"phase": "Succeeded"})
    lc_files[target] = False  # the LC has not copied it yet: keep waiting
    sim.step()
    assert last_condition(sim.obj) == ("Starting", "Deploy")
    if copied is None:
        del lc_files[target]
    else:
        lc_files[target] = copied
    sim.step()
    assert last_condition(sim.obj) == ("Completed", "Deploy")
    assert sim.obj["status"]["conditions"][-1]["reason"] == "Deployed"
    assert sim.state["deployedModel"] == "/output/train/1/model.pb"
    sim.step()
    assert sim.plan.finished  # maxRounds reached: the job ends instead of waiting forever


def test_max_rounds_completes_the_job() -> None:
    sim = Sim(job(maxRounds=1), samples=1000)
    trained(sim)
    evaluated(sim, [0.1], [0.9])  # not better: deploy skipped, the round still counts
    sim.until("Completed", "Deploy")
    eval_worker = sim.role("eval")
    assert eval_worker.phase == "Running"  # it has reported its stage completed and is exiting
    sim.step()
    assert sim.plan.finished and sim.obj["status"]["completionTime"]
    assert sim.plan.events[-1].reason == "JobCompleted"
    # a worker that reported completion is left to exit on its own (its pod is kept, as Sedna
    # keeps a finished job's pods), not deleted as an unfinished one would be
    assert eval_worker.name not in sim.plan.delete_workers
    after = sim.step()
    assert after.finished and not after.create_workers and not after.status_patch


def test_spec_edit_rolls_only_the_inference_worker() -> None:
    sim = Sim(job(), samples=0)
    sim.step()
    old = sim.role("inference").name
    sim.obj["spec"]["deploySpec"]["template"]["spec"]["containers"][0]["image"] = "infer:v2"
    sim.obj["metadata"]["generation"] = 2
    plan = sim.step()
    assert plan.delete_workers == [old] and [w.role for w in plan.create_workers] == ["inference"]
    assert plan.status_patch["observedGeneration"] == 2


def test_lc_files_gate_round_data() -> None:
    sim = Sim(job(), samples=1000, lc_files={"/output/data/train/1/data.txt": False})
    sim.until("Ready", "Train")
    plan = sim.step()
    assert last_condition(sim.obj) == ("Ready", "Train") and not plan.create_workers and plan.requeue_after == 2.0


def test_cleanup() -> None:
    sim = Sim(job())
    sim.step()
    plan = il.cleanup(observe(sim.obj, workers=list(sim.workers.values())))
    assert len(plan.delete_workers) == 1 and plan.finished
