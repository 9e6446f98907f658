"""Run policies (activeDeadlineSeconds, ttlSecondsAfterFinished, suspend, FL's scheduling timeout)
around the FL and IL reconcilers: what each plan does, step by step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sedna_operator.controllers import federatedlearning as fl
from sedna_operator.controllers.lifecycle import DEFAULT_SCHEDULING_TIMEOUT

from .helpers import NOW, apply, last_condition, later, observe, sample, worker_from
from .test_federatedlearning import DATASETS, MODELS, SAMPLE
from .test_incrementallearning import Sim, job


def fl_job(**spec: Any) -> dict[str, Any]:
    obj = sample(SAMPLE)
    obj["spec"].update(spec)
    return obj


def fl_step(obj: dict[str, Any], workers: list[Any], seconds: float = 0) -> tuple[dict[str, Any], Any]:
    plan = fl.reconcile(observe(obj, models=MODELS, datasets=DATASETS, workers=workers, now=later(seconds)))
    return apply(obj, plan), plan


def started_fl(**spec: Any) -> tuple[dict[str, Any], list[Any]]:
    obj, plan = fl_step(fl_job(**spec), [])
    return obj, [worker_from(w) for w in plan.create_workers]


def pinned(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conds = obj["status"]["conditions"]
    found = [c for c in conds if c["type"] == kind]
    assert len(found) <= 1
    return found[0] if found else None


# ---------------------------------------------------------------------------- deadline
def test_fl_deadline_fails_the_job_and_deletes_its_workers() -> None:
    obj, workers = started_fl(activeDeadlineSeconds=60)
    obj, plan = fl_step(obj, workers, 20)
    assert not plan.finished and plan.requeue_after is not None and plan.requeue_after <= 40
    obj, plan = fl_step(obj, workers, 61)
    assert plan.finished and sorted(plan.delete_workers) == sorted(w.name for w in workers)
    assert not plan.create_workers
    status = obj["status"]
    assert status["phase"] == "Failed" and status["completionTime"]
    assert status["active"] == 0
    last = status["conditions"][-1]
    assert (last["type"], last["reason"]) == ("Failed", "DeadlineExceeded") and "60s" in last["message"]
    assert any(e.type == "Warning" and e.reason == "DeadlineExceeded" for e in plan.events)
    # FL's Ready condition stays first and says the job is over.
    assert status["conditions"][0]["type"] == "Ready" and status["conditions"][0]["status"] == "False"


def test_no_deadline_no_requeue_for_it() -> None:
    obj, workers = started_fl()
    _, plan = fl_step(obj, workers, 3600)
    assert not plan.finished and plan.status_patch.get("phase") != "Failed"


def test_il_deadline_fails_at_its_current_stage() -> None:
    sim = Sim(job(activeDeadlineSeconds=30), samples=1000)
    sim.until("Starting", "Train")
    assert sim.workers
    sim.now = NOW + timedelta(seconds=31)
    plan = sim.step()
    assert plan.finished and not sim.workers  # every worker deleted, the inference one too
    assert last_condition(sim.obj) == ("Failed", "Train")
    assert sim.obj["status"]["conditions"][-1]["reason"] == "DeadlineExceeded"
    assert sim.obj["status"]["completionTime"]
    # Finished for good: the next pass does nothing.
    again = sim.step()
    assert again.finished and not again.create_workers


# ---------------------------------------------------------------------------- TTL
def test_ttl_after_finished_deletes_the_job() -> None:
    obj, workers = started_fl(ttlSecondsAfterFinished=100)
    done = [w.model_copy(update={"phase": "Succeeded"}) for w in workers]
    obj, plan = fl_step(obj, done, 10)
    assert plan.finished and obj["status"]["phase"] == "Succeeded"
    assert plan.expires_in == 100 and not plan.delete_self
    obj, plan = fl_step(obj, done, 60)
    assert plan.finished and plan.expires_in == 50 and not plan.delete_self
    obj, plan = fl_step(obj, done, 110)
    assert plan.delete_self and any(e.reason == "Expired" for e in plan.events)


def test_without_ttl_a_finished_job_stays() -> None:
    obj, workers = started_fl()
    done = [w.model_copy(update={"phase": "Succeeded"}) for w in workers]
    obj, plan = fl_step(obj, done, 10)
    obj, plan = fl_step(obj, done, 10**6)
    assert plan.finished and plan.expires_in is None and not plan.delete_self


def test_ttl_counts_from_a_deadline_failure_too() -> None:
    obj, workers = started_fl(activeDeadlineSeconds=5, ttlSecondsAfterFinished=0)
    _, plan = fl_step(obj, workers, 6)
    assert plan.finished and plan.delete_self


# ---------------------------------------------------------------------------- suspend
def test_suspend_deletes_workers_and_resume_goes_on() -> None:
    obj, workers = started_fl(activeDeadlineSeconds=100)
    obj, _ = fl_step(obj, workers, 1)
    history = [c for c in obj["status"]["conditions"] if c["type"] != "Ready"]
    obj["spec"]["suspend"] = True
    obj, plan = fl_step(obj, workers, 50)
    assert sorted(plan.delete_workers) == sorted(w.name for w in workers) and not plan.create_workers
    cond = pinned(obj, "Suspended")
    assert cond is not None and obj["status"]["conditions"][0] is cond
    assert (cond["status"], cond["reason"]) == ("True", "JobSuspended")
    assert any(e.reason == "Suspended" for e in plan.events)
    assert obj["status"]["active"] == 0
    # While suspended: nothing created, the deadline does not fire, the history is untouched.
    obj, plan = fl_step(obj, [], 500)
    assert not plan.create_workers and not plan.finished
    assert [c for c in obj["status"]["conditions"] if c["type"] not in ("Ready", "Suspended")] == history
    # Resumed: the workers come back, the deadline counts from now.
    obj["spec"]["suspend"] = False
    obj, plan = fl_step(obj, [], 510)
    assert len(plan.create_workers) == 3 and not plan.finished
    cond = pinned(obj, "Suspended")
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "JobResumed")
    assert obj["status"]["startTime"] == (NOW + timedelta(seconds=510)).isoformat().replace("+00:00", "Z")
    new = [worker_from(w) for w in plan.create_workers]
    obj, plan = fl_step(obj, new, 600)
    assert not plan.finished  # 90 s after the resume: within the 100 s
    obj, plan = fl_step(obj, new, 611)
    assert plan.finished and obj["status"]["phase"] == "Failed"
    assert pinned(obj, "Suspended") is not None and obj["status"]["conditions"][0]["type"] == "Suspended"


def test_suspended_at_creation_creates_nothing() -> None:
    obj, plan = fl_step(fl_job(suspend=True), [])
    assert not plan.create_workers and pinned(obj, "Suspended")["status"] == "True"  # type: ignore[index]


def test_il_suspend_keeps_the_cycle_where_it_was() -> None:
    sim = Sim(job(), samples=1000)
    sim.until("Starting", "Train")
    train = sim.role("train").name
    sim.obj["spec"]["suspend"] = True
    sim.step()
    assert not sim.workers
    assert last_condition(sim.obj) == ("Starting", "Train")  # the state, not "Suspended"
    sim.obj["spec"]["suspend"] = False
    plan = sim.step()
    # The stage's worker comes back under its name, as after any deletion.
    assert train in [w.name for w in plan.create_workers]
    assert last_condition(sim.obj) == ("Starting", "Train")


# ---------------------------------------------------------------------------- scheduling timeout
def test_fl_worker_pending_too_long_fails_the_job_with_the_reason() -> None:
    obj, workers = started_fl(schedulingTimeoutSeconds=30)
    stuck = workers[1].model_copy(update={
        "phase": "Pending", "created_at": NOW, "node": "no-such-node", "waiting_reason": None})
    others = [workers[0], stuck, workers[2]]
    obj, plan = fl_step(obj, others, 10)
    assert not plan.finished and plan.requeue_after is not None and plan.requeue_after <= 20
    obj, plan = fl_step(obj, others, 31)
    assert plan.finished and obj["status"]["phase"] == "Failed"
    last = obj["status"]["conditions"][-1]
    assert last["reason"] == "SchedulingTimeout" and stuck.name in last["message"] and "no-such-node" in last["message"]


def test_scheduling_timeout_default_and_reason_from_the_scheduler() -> None:
    obj, workers = started_fl()
    why = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    stuck = workers[2].model_copy(update={"phase": "Pending", "created_at": NOW, "waiting_reason": why})
    _, plan = fl_step(obj, [workers[0], workers[1], stuck], DEFAULT_SCHEDULING_TIMEOUT - 1)
    assert not plan.finished
    obj, plan = fl_step(obj, [workers[0], workers[1], stuck], DEFAULT_SCHEDULING_TIMEOUT)
    assert plan.finished and why in obj["status"]["conditions"][-1]["message"]


def test_a_deadline_keeps_what_the_same_pass_wrote() -> None:
    """A round reported in the pass that hits the deadline is recorded before the failure."""
    from .helpers import report

    obj, workers = started_fl(activeDeadlineSeconds=30)
    rep = report(workers[1].name, "train", "running", owner_info={"currentRound": 2})
    plan = fl.reconcile(observe(obj, models=MODELS, datasets=DATASETS, workers=workers, now=later(31),
                                reports={workers[1].name: rep}))
    obj = apply(obj, plan)
    types = [c["type"] for c in obj["status"]["conditions"]]
    assert types[-2:] == ["Training", "Failed"] and obj["status"]["currentRound"] == 2
