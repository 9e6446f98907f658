"""LifelongLearningJob: KB env, inference only after the first deploy, knowledgeBase from reports."""

from __future__ import annotations

from typing import Any

from sedna_operator.controllers import lifelonglearning as ll
from sedna_operator.controllers.plan import ObservedWorker, Plan, WorkerReport

from .helpers import NOW, apply, dataset, env_of, last_condition, later, observe, report, sample, worker_from

DS = "lifelong-dataset"
KB_RESULT = {
    "url": "http://kb.sedna:9020/knowledgebase/file/download?files=index.pkl&name=index.pkl",
    "classes": ["cold", "hot"],
    "current_metric": {"task-a": {"precision_score": 0.8}, "task-b": {"precision_score": [0.6, 0.7]}},
    "number_of_labeled_unseen_sample": 5,
}


class Sim:
    def __init__(self, obj: dict[str, Any], samples: int = 1000, **kw: Any) -> None:
        self.obj, self.samples, self.kw = obj, samples, kw
        self.workers: dict[str, ObservedWorker] = {}
        self.reports: dict[str, WorkerReport] = {}
        self.plan = Plan()

    def step(self) -> Plan:
        obs = observe(self.obj, workers=list(self.workers.values()), reports=self.reports,
                      datasets={DS: dataset(DS, "/data/trainData.csv", self.samples)}, **self.kw)
        self.plan = ll.reconcile(obs)
        self.obj = apply(self.obj, self.plan)
        for name in self.plan.delete_workers:
            self.workers.pop(name, None)
        for w in self.plan.create_workers:
            self.workers[w.name] = worker_from(w)
        return self.plan

    def until(self, ctype: str, stage: str) -> None:
        for _ in range(12):
            if last_condition(self.obj) == (ctype, stage):
                return
            self.step()
        raise AssertionError(last_condition(self.obj))

    def finish(self, role: str, kind: str) -> None:
        w = next(w for w in self.workers.values() if w.role == role)
        self.reports[w.name] = report(w.name, kind, "completed", results=[KB_RESULT], at=NOW)

    def round_to_deploy(self) -> None:
        """Train, eval and deploy one round (the workers report completion)."""
        self.until("Starting", "Train")
        self.finish("train", "train")
        self.until("Starting", "Eval")
        self.finish("eval", "eval")
        self.until("Completed", "Deploy")

    def created(self, role: str) -> dict[str, Any]:
        return next(w for w in self.plan.create_workers if w.role == role).pod


def job() -> dict[str, Any]:
    obj = sample("lifelonglearningjobv1alpha1.yaml")
    obj["spec"]["trainSpec"]["trigger"]["timer"] = {"start": "00:00", "end": "24:00"}
    return obj


def test_round_trip_and_env() -> None:
    sim = Sim(job(), kb_server="http://kb.sedna:9020")
    sim.step()
    assert not sim.plan.create_workers  # no inference worker before the first deploy
    sim.until("Starting", "Train")
    e = env_of(sim.created("train"))
    assert e["KB_SERVER"] == "http://kb.sedna:9020" and e["HAS_COMPLETED_INITIAL_TRAINING"] == "false"
    assert "CLOUD_KB_INDEX" not in e
    assert e["OUTPUT_URL"] == "/home/data/output/train/1"
    assert e["TRAIN_DATASET_URL"] == "/home/data/output/data/train/1/data.txt"
    assert sim.created("train")["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"
    sim.finish("train", "train")
    sim.until("Starting", "Eval")
    e = env_of(sim.created("eval"))
    assert e["MODEL_URLS"] == KB_RESULT["url"] and e["OUTPUT_URL"] == "/home/data/output/eval/1"
    assert e["TEST_DATASET_URL"] == "/home/data/output/data/eval/1/data.txt"
    sim.finish("eval", "eval")
    sim.until("Ready", "Deploy")
    sim.step()
    assert sim.obj["status"]["controllerState"]["deploy"] == {
        "round": 1, "kind": "copy", "source": KB_RESULT["url"], "target": "/output/deploy/index.pkl",
        "requestedAt": "2024-05-01T12:00:00Z"}
    sim.until("Completed", "Deploy")
    inf = sim.created("inference")
    e = env_of(inf)
    assert e["MODEL_URLS"] == "/home/data/output/deploy/index.pkl" and e["OUTPUT_URL"] == "/home/data/output"
    assert inf["spec"]["hostNetwork"] is True
    kb = sim.obj["status"]["knowledgeBase"]
    assert kb["AIModels"] == {"numberOfAIModels": 2, "listOfAIModels": [
        {"modelID": "task-a", "numberOfTrainSamples": 5, "averagePrecision": 0.8},
        {"modelID": "task-b", "numberOfTrainSamples": 5, "averagePrecision": 0.6}]}
    assert kb["AIClasses"] == {"numberOfAIClasses": 2, "listOfAIClasses": ["cold", "hot"]}
    assert kb["samples"] == {"numberOfLabeledUnseenSample": 5, "numberOfUnseenSample": 0}
    # Second round: train knows the KB index; the serving inference worker hot-updates.
    sim.samples = 2000
    sim.kw["now"] = later(120)  # past the trigger's check period
    sim.until("Starting", "Train")
    e = env_of(sim.created("train"))
    assert e["HAS_COMPLETED_INITIAL_TRAINING"] == "true" and e["CLOUD_KB_INDEX"] == KB_RESULT["url"]
    first_inf = next(w for w in sim.workers.values() if w.role == "inference").name
    sim.finish("train", "train")
    sim.until("Starting", "Eval")
    sim.finish("eval", "eval")
    sim.until("Completed", "Deploy")
    assert not sim.plan.delete_workers and not sim.plan.create_workers
    assert sim.obj["status"]["conditions"][-1]["reason"] == "HotUpdated"
    sim.step()
    assert list(sim.workers) and first_inf in sim.workers  # the same worker, not restarted


def test_a_deploy_without_a_serving_inference_worker_starts_a_new_one() -> None:
    """Issue 11 item 4: hot updates need a worker to swap the index in; when the inference
    worker has ended (its stream is done), the next round's deploy starts a fresh one."""
    sim = Sim(job())
    sim.round_to_deploy()
    first = next(w for w in sim.workers.values() if w.role == "inference")
    sim.workers[first.name] = first.model_copy(update={"phase": "Succeeded"})
    sim.samples = 2000
    sim.kw["now"] = later(120)
    sim.round_to_deploy()
    assert sim.obj["status"]["conditions"][-1]["reason"] == "Deployed"
    sim.step()
    inference = [w for w in sim.workers.values() if w.role == "inference"]
    assert len(inference) == 1 and inference[0].name != first.name and inference[0].phase == "Running"


def test_unseen_samples_are_counted_from_the_inference_workers() -> None:
    reports = [
        report("j-train-1", "train", "completed", results=[KB_RESULT]),
        report("j-inference-a", "inference", "running", owner_info={"inferenceNumber": 50, "numberOfUnseenSample": 7}),
        report("j-inference-b", "inference", "running", owner_info={"numberOfUnseenSample": 3}),
        report("j-inference-c", "inference", "running", owner_info={"numberOfUnseenSample": "9"}),  # not a count
    ]
    assert ll.unseen_samples_from(reports) == 10
    sim = Sim(job())
    sim.round_to_deploy()
    sim.step()
    inf = next(w for w in sim.workers.values() if w.role == "inference")
    sim.reports[inf.name] = report(inf.name, "inference", "running", owner_info={"numberOfUnseenSample": 12}, at=later(5))
    sim.step()
    assert sim.obj["status"]["knowledgeBase"]["samples"] == {"numberOfLabeledUnseenSample": 5, "numberOfUnseenSample": 12}


def test_lc_copy_gate_and_no_index_skips_deploy() -> None:
    sim = Sim(job(), lc_files={"/output/deploy/index.pkl": False})
    sim.until("Starting", "Train")
    sim.finish("train", "train")
    sim.until("Starting", "Eval")
    w = next(w for w in sim.workers.values() if w.role == "eval")
    sim.reports[w.name] = report(w.name, "eval", "completed", results=[])
    sim.until("Waiting", "Deploy")
    sim.step()
    assert last_condition(sim.obj) == ("Completed", "Deploy") and sim.plan.events[-1].reason == "DeploySkipped"
