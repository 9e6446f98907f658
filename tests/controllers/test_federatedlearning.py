"""FederatedLearningJob: pods from Sedna's samples, phases, rounds, restarts with backoff, completion."""

from __future__ import annotations

from typing import Any

import pytest

from sedna_operator.controllers import federatedlearning as fl
from sedna_operator.controllers.plan import Observation, Plan

from .helpers import apply, dataset, env_of, later, model, observe, report, sample, worker_from

SAMPLE = "federatedlearningjob_v1alpha1.yaml"
MODELS = {"surface-defect-detection-model": model("surface-defect-detection-model", "/model/fl/")}
DATASETS = {
    "edge1-surface-defect-detection-dataset": dataset(
        "edge1-surface-defect-detection-dataset", "/data/1.txt"
    ),
    "edge2-surface-defect-detection-dataset": dataset(
        "edge2-surface-defect-detection-dataset", "s3://b/2.txt", cred="s3c"
    ),
}


def obs_of(obj: dict[str, Any], **kw: Any) -> Observation:
    return observe(obj, models=MODELS, datasets=DATASETS, **kw)


def first() -> tuple[dict[str, Any], Plan]:
    obj = sample(SAMPLE)
    return obj, fl.reconcile(obs_of(obj))


def test_pods_from_sample() -> None:
    _, plan = first()
    agg, t1, t2 = plan.create_workers
    assert (agg.role, t1.role, t2.role) == ("aggregation", "train", "train")
    assert agg.name.startswith("surface-defect-detection-aggregation-")
    a, e1, e2 = env_of(agg.pod), env_of(t1.pod), env_of(t2.pod)
    assert a["AGG_BIND_PORT"] == "7363" and a["PARTICIPANTS_COUNT"] == "2" and a["TRANSMITTER"] == "ws"
    assert a["MODEL_URL"] == "/home/data/model/fl/" and a["JOB_NAME"] == "surface-defect-detection"
    assert agg.pod["spec"]["restartPolicy"] == "OnFailure" and "hostNetwork" not in agg.pod["spec"]
    assert e1["AGG_IP"] == "surface-defect-detection-aggregation.default" and e1["AGG_PORT"] == "7363"
    assert e1["DATASET_NAME"] == "edge1-surface-defect-detection-dataset"
    assert e1["MODEL_NAME"] == "surface-defect-detection-model"
    assert (
        e1["TRAIN_DATASET_URL"] == "/home/data/data/1.txt" and e2["TRAIN_DATASET_URL"] == "/downloads/b/2.txt"
    )
    assert t2.pod["spec"]["initContainers"][0]["env"][1]["valueFrom"]["secretKeyRef"]["name"] == "s3c"
    assert t1.pod["spec"]["hostNetwork"] is True and t1.pod["spec"]["nodeName"] == "edge1"
    assert t1.pod["metadata"]["labels"]["federatedlearningjob.sedna.io/worker-type"] == "train"
    svc = plan.services[0]
    assert (
        svc.name == "surface-defect-detection-aggregation" and svc.service["spec"]["ports"][0]["port"] == 7363
    )
    assert plan.status_patch["phase"] == "Pending"


def test_s3_transmitter_and_pretrained_model() -> None:
    obj = sample("federatedlearningjob_yolo_v1alpha1.yaml")
    models = {
        "yolo-v5-model": model("yolo-v5-model", "/m/"),
        "yolo-v5-pretrained-model": model("p", "/p/yolo.pth"),
    }
    datasets = {n: dataset(n, f"/d/{n}.txt") for n in ("coco-dataset-1", "coco-dataset-2")}
    plan = fl.reconcile(observe(obj, models=models, datasets=datasets))
    a = env_of(plan.create_workers[0].pod)
    assert a["TRANSMITTER"] == "s3" and a["AGG_DATA_PATH"] == "s3://sedna/fl/aggregation_data"
    assert a["ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "mysecret", "key": "ACCESS_KEY_ID"}}
    assert a["PRETRAINED_MODEL_URL"] == "/home/data/p/yolo.pth"
    assert plan.create_workers[1].pod["spec"]["containers"][0]["args"] == ["-i", "1"]


def state_after(steps: list[str]) -> tuple[dict[str, Any], Plan, list[Any]]:
    """Run a small script of events against the job and return the last plan."""
    obj, plan = first()
    obj = apply(obj, plan)
    pods = {w.name: w for w in plan.create_workers}
    workers = [worker_from(w) for w in plan.create_workers]
    now = later(0)
    for step in steps:
        if step.startswith("fail:"):
            idx = int(step[5:])
            workers[idx] = workers[idx].model_copy(update={"phase": "Failed"})
        elif step.startswith("succeed:"):  # succeed:0,1,2 -> all in one observation
            for idx in map(int, step[8:].split(",")):
                workers[idx] = workers[idx].model_copy(update={"phase": "Succeeded"})
        elif step.startswith("wait:"):
            now = later(float(step[5:]))
        elif step == "observe":  # the runtime's creations become visible
            workers = workers + [worker_from(w) for w in plan.create_workers]
            pods.update({w.name: w for w in plan.create_workers})
            continue
        plan = fl.reconcile(obs_of(obj, workers=workers, now=now))
        obj = apply(obj, plan)
        workers = [w for w in workers if w.name not in set(plan.delete_workers)]  # deletions applied
    return obj, plan, workers


# steps -> (phase, created, deleted, finished, requeue)
TABLE = [
    (["run"], "Running", 0, 0, False, None),
    (["fail:1"], None, 0, 1, False, 10.0),  # first restart after 10 s
    (["fail:1", "wait:5"], None, 0, 0, False, 5.0),  # still backing off
    (["fail:1", "wait:10"], None, 1, 0, False, None),  # recreated after the backoff
    (["fail:1", "wait:10", "observe", "fail:2"], None, 0, 1, False, 20.0),  # second restart: 20 s
    (["succeed:1"], None, 0, 0, False, None),  # a trainer finishing is not recreated
    (["succeed:0"], None, 0, 0, False, 30.0),  # aggregator done: trainers get a grace to end
    (["succeed:0", "wait:10"], None, 0, 0, False, 20.0),  # still within the grace
    (["succeed:0", "wait:30"], "Succeeded", 0, 2, True, None),  # grace over: job done, trainers deleted
    (["succeed:0", "succeed:1,2"], "Succeeded", 0, 0, True, None),  # trainers ended: done at once
]


@pytest.mark.parametrize(
    "steps,phase,created,deleted,finished,requeue", TABLE, ids=[" ".join(t[0]) for t in TABLE]
)
def test_transitions(
    steps: list[str], phase: str | None, created: int, deleted: int, finished: bool, requeue: float | None
) -> None:
    _, plan, _ = state_after([s if s != "run" else "wait:0" for s in steps])
    if phase is not None:
        assert plan.status_patch.get("phase") == phase
    assert len(plan.create_workers) == created
    assert len(plan.delete_workers) == deleted
    assert plan.finished is finished
    assert plan.requeue_after == requeue


# steps -> (phase, succeeded): ``succeeded`` counts the pods in phase Succeeded (Sedna's counter).
SUCCEEDED_TABLE = [
    (["succeed:1"], "Running", 1),
    (["succeed:1", "succeed:2"], "Running", 2),
    (["succeed:1", "succeed:2", "succeed:0"], "Succeeded", 3),
    (["succeed:0,1,2"], "Succeeded", 3),  # all three seen at once
    (["succeed:2", "succeed:0"], "Running", 2),  # trainer 1 still running: within the grace
    (["succeed:2", "succeed:0", "succeed:1"], "Succeeded", 3),  # it ended within the grace: counted
    (["succeed:2", "succeed:0", "wait:30"], "Succeeded", 2),  # it did not: deleted, not counted
    (["succeed:0", "wait:31"], "Succeeded", 1),
]


@pytest.mark.parametrize(
    "steps,phase,succeeded", SUCCEEDED_TABLE, ids=[" ".join(t[0]) for t in SUCCEEDED_TABLE]
)
def test_succeeded_counts_pods_in_phase_succeeded(steps: list[str], phase: str, succeeded: int) -> None:
    obj, plan, _ = state_after(steps)
    assert obj["status"]["phase"] == phase
    assert obj["status"]["succeeded"] == succeeded
    if phase == "Succeeded":
        assert obj["status"]["active"] == 0


def test_restart_budget_exhausted_fails_job() -> None:
    obj = sample(SAMPLE)
    obj["spec"]["maxRestarts"] = 1
    plan = fl.reconcile(obs_of(obj))
    obj = apply(obj, plan)
    workers = [worker_from(w) for w in plan.create_workers]
    workers[1] = workers[1].model_copy(update={"phase": "Failed"})
    plan = fl.reconcile(obs_of(obj, workers=workers))
    obj = apply(obj, plan)
    workers = [w for w in workers if w.name not in plan.delete_workers]
    plan = fl.reconcile(obs_of(obj, workers=workers, now=later(11)))
    obj = apply(obj, plan)
    new = worker_from(plan.create_workers[0], "Failed")
    plan = fl.reconcile(obs_of(obj, workers=[*workers, new], now=later(12)))
    assert plan.finished and plan.status_patch["phase"] == "Failed"
    assert plan.status_patch["conditions"][-1]["type"] == "Failed"
    assert set(plan.delete_workers) == {w.name for w in [*workers, new]}
    assert plan.status_patch["failed"] == 2 and plan.events[-1].type == "Warning"
    done = fl.reconcile(obs_of(apply(obj, plan), workers=[]))
    assert done.finished and not done.create_workers


def test_in_place_restarts_count_against_max_restarts() -> None:
    """The aggregator and trainers are OnFailure pods: the kubelet restarts a crashing container
    in the same pod, which the job must count too (else a crash loop never fails the job)."""
    obj, plan = first()
    obj = apply(obj, plan)
    workers = [worker_from(w) for w in plan.create_workers]
    workers[0] = workers[0].model_copy(update={"restarts": 3})  # maxRestarts (default 3): still fine
    plan = fl.reconcile(obs_of(obj, workers=workers))
    assert not plan.finished and not plan.delete_workers
    obj = apply(obj, plan)
    workers[0] = workers[0].model_copy(update={"restarts": 4})
    plan = fl.reconcile(obs_of(obj, workers=workers))
    assert plan.finished and plan.status_patch["phase"] == "Failed"
    assert "restarted 4 times" in plan.status_patch["conditions"][-1]["message"]


def test_rounds_and_model_metrics() -> None:
    obj, plan = first()
    obj = apply(obj, plan)
    workers = [worker_from(w) for w in plan.create_workers]
    agg = workers[0].name
    reports = {
        workers[1].name: report(
            workers[1].name, "train", "running", owner_info={"currentRound": 2, "updateTime": "T2"}
        ),
        agg: report(agg, "train", "running", results=[{"metrics": {"accuracy": 0.9}}]),
    }
    plan = fl.reconcile(obs_of(obj, workers=workers, reports=reports))
    assert plan.status_patch["currentRound"] == 2
    cond = plan.status_patch["conditions"][-1]
    assert (cond["type"], cond["reason"], cond["message"]) == (
        "Training",
        "DoTraining",
        "Round 2 reaches at T2",
    )
    assert plan.model_patches["surface-defect-detection-model"]["metrics"] == [
        {"key": "accuracy", "value": "0.9"}
    ]
    obj = apply(obj, plan)
    again = fl.reconcile(obs_of(obj, workers=workers, reports=reports))
    assert "conditions" not in again.status_patch and not again.model_patches  # nothing twice


def test_round_accuracy_reaches_the_job_status() -> None:
    """The trainers evaluate the aggregated model each round (Sedna's {name: [value]} or a plain
    number); the job shows their mean, in status.metrics and in the round's condition."""
    obj, plan = first()
    obj = apply(obj, plan)
    workers = [worker_from(w) for w in plan.create_workers]
    agg, one, two = workers[0].name, workers[1].name, workers[2].name
    reports = {
        one: report(one, "train", "running", owner_info={"currentRound": 3, "updateTime": "T3"},
                    results=[{"format": "pkl", "url": "/m/a.pkl", "metrics": {"accuracy": [0.9], "loss": 0.3}}]),
        two: report(two, "train", "running", owner_info={"currentRound": 3, "updateTime": "T3"},
                    results=[{"format": "pkl", "url": "/m/b.pkl", "metrics": {"accuracy": 0.8, "note": "x"}}]),
        agg: report(agg, "train", "running", owner_info={"currentRound": 3}),
    }
    plan = fl.reconcile(obs_of(obj, workers=workers, reports=reports))
    assert plan.status_patch["metrics"] == [{"key": "accuracy", "value": "0.85"}, {"key": "loss", "value": "0.3"}]
    assert plan.status_patch["conditions"][-1]["message"] == "Round 3 reaches at T3 (accuracy=0.85, loss=0.3)"
    obj = apply(obj, plan)
    assert "metrics" not in fl.reconcile(obs_of(obj, workers=workers, reports=reports)).status_patch


def test_spec_edit_rolls_only_the_edited_trainer() -> None:
    obj, plan = first()
    obj = apply(obj, plan)
    workers = [worker_from(w) for w in plan.create_workers]
    obj["spec"]["trainingWorkers"][1]["template"]["spec"]["containers"][0]["image"] = "train:v2"
    obj["metadata"]["generation"] = 2
    plan = fl.reconcile(obs_of(obj, workers=workers))
    assert plan.delete_workers == [workers[2].name] and [w.role for w in plan.create_workers] == ["train"]
    assert plan.status_patch["observedGeneration"] == 2


def test_deleted_worker_recreated_and_cleanup() -> None:
    obj, plan = first()
    obj = apply(obj, plan)
    workers = [worker_from(w) for w in plan.create_workers]
    again = fl.reconcile(obs_of(obj, workers=workers[:2]))
    assert [w.name for w in again.create_workers] == [plan.create_workers[2].name]
    clean = fl.cleanup(obs_of(obj, workers=workers))
    assert len(clean.delete_workers) == 3 and clean.delete_services == [
        "surface-defect-detection-aggregation"
    ]


def test_counters_are_written_once_even_when_zero() -> None:
    """`kubectl get fl` shows 0 in FAILED, not <none>: the first reconcile writes every counter."""
    plan = fl.reconcile(observe(sample(SAMPLE), models=MODELS, datasets=DATASETS))
    assert plan.status_patch["failed"] == 0
    assert plan.status_patch["succeeded"] == 0
    assert "active" in plan.status_patch


def ready_of(obj: dict[str, Any]) -> tuple[str, str]:
    conds = obj["status"]["conditions"]
    assert [c["type"] for c in conds].count("Ready") == 1 and conds[0]["type"] == "Ready"
    return conds[0]["status"], conds[0]["reason"]


def test_aggregator_gets_a_tcp_readiness_probe_trainers_none() -> None:
    _, plan = first()
    agg, t1, _ = plan.create_workers
    assert agg.pod["spec"]["containers"][0]["readinessProbe"]["tcpSocket"] == {"port": fl.AGG_PORT}
    assert "readinessProbe" not in t1.pod["spec"]["containers"][0]


def test_ready_condition_follows_the_aggregator() -> None:
    obj, plan = first()
    obj = apply(obj, plan)
    assert ready_of(obj) == ("False", "AggregatorNotReady")
    agg, *trainers = (worker_from(w) for w in plan.create_workers)
    listening = agg.model_copy(update={"ready": False})
    plan = fl.reconcile(obs_of(obj, workers=[listening, *trainers]))
    obj = apply(obj, plan)
    assert ready_of(obj) == ("False", "AggregatorNotReady") and obj["status"]["phase"] == "Running"
    assert plan.requeue_after == 3.0  # looked at again soon where readiness is not watched
    plan = fl.reconcile(obs_of(obj, workers=[agg.model_copy(update={"ready": True}), *trainers]))
    obj = apply(obj, plan)
    assert ready_of(obj) == ("True", "AggregatorReady")
    # Rounds append Training conditions after it; the Ready one stays first, the phase unchanged.
    round_report = report(trainers[0].name, "train", "running", owner_info={"currentRound": 1})
    plan = fl.reconcile(obs_of(obj, workers=[agg.model_copy(update={"ready": True}), *trainers],
                               reports={trainers[0].name: round_report}))
    obj = apply(obj, plan)
    assert ready_of(obj) == ("True", "AggregatorReady") and obj["status"]["conditions"][-1]["type"] == "Training"
    # Done: the job is no longer ready to aggregate.
    done = [agg.model_copy(update={"phase": "Succeeded"}), *(t.model_copy(update={"phase": "Succeeded"}) for t in trainers)]
    plan = fl.reconcile(obs_of(obj, workers=done))
    obj = apply(obj, plan)
    assert obj["status"]["phase"] == "Succeeded" and ready_of(obj) == ("False", "AggregationFinished")
    assert not [e for e in plan.events if e.reason == "AggregationFinished"]  # "Completed" says it
    assert obj["status"]["conditions"][-1]["type"] == "Complete"
