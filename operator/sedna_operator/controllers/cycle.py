"""The Train -> Eval -> Deploy cycle shared by incremental and lifelong learning.

State is the **last** condition ``(type, stage)`` with Sedna's vocabulary (Waiting, Ready,
Starting, Running, Completed, Failed; Train, Eval, Deploy); durable bookkeeping lives in
``status.controllerState`` and the round number in ``status.round``. Each reconcile makes at most
one transition and asks to look again at once when there is more to do, so every step is a
row of a table test. Unlike Sedna the operator, not the LC, evaluates the train trigger: the LC
writes the round data files the plan names in ``controllerState.roundData``.

| last condition        | what happens                                                   | next            |
|-----------------------|----------------------------------------------------------------|-----------------|
| (none)                | start; IL creates its inference worker                          | Waiting/Train   |
| Waiting/Train         | train trigger on new samples (period, timer, condition)        | Ready/Train     |
| Ready/Train, Eval     | create the round's stage worker (after its data file exists)   | Starting        |
| Starting, Running     | worker running -> Running; report/pod completed -> Completed;  | ...             |
|                       | report failed, pod failed or crash-looping -> Failed            |                 |
| Completed/Train       |                                                                | Waiting/Eval    |
| Waiting/Eval          | name the models to compare and the eval data                   | Ready/Eval      |
| Completed/Eval        |                                                                | Waiting/Deploy  |
| Waiting/Deploy        | flavour decides (IL: deploy trigger on eval metrics)            | Ready/Completed |
| Ready/Deploy          | flavour deploys (restart inference worker / hot update request)| Completed/Start.|
| Completed/Deploy      | round counted; maxRounds reached -> finished                    | Waiting/Train   |
| Failed/*              | warning event; the round's samples are trained again           | Waiting/Train   |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ..api import Resource
from . import triggers
from .common import (
    Slot,
    append_condition,
    conditions_of,
    event,
    iso,
    parse_time,
    sync_slot,
)
from .plan import Observation, ObservedWorker, Plan, WorkerPlan, WorkerReport
from .state import CycleState
from .workers import ROUND_ANNOTATION, WORKER_KEY_LABEL, worker_name

__all__ = [
    "STAGE_ROLE",
    "REPORT_GRACE_SECONDS",
    "MAX_CONTAINER_RESTARTS",
    "Step",
    "Flavor",
    "Cycle",
    "join_url",
    "round_data_path",
    "stage_output",
    "run",
    "stage_labels",
]

STAGE_ROLE = {"Train": "train", "Eval": "eval", "Deploy": "inference"}
# A stage pod that succeeded without a completion report waits this long for the report.
REPORT_GRACE_SECONDS = 30.0
# Stage pods run with restartPolicy OnFailure (Sedna's); a crash loop counts as a failure.
MAX_CONTAINER_RESTARTS = 3
INFERENCE_KEY = "inference"
S = TypeVar("S", bound=CycleState)


def join_url(base: str, *parts: str | int) -> str:
    """``base/part/...`` for host paths and URLs alike."""
    return "/".join([base.rstrip("/"), *(str(p).strip("/") for p in parts)])


def round_data_path(output_dir: str, stage: str, round_: int, fmt: str = "txt") -> str:
    """``<outputDir>/data/<train|eval>/<round>/data.<txt|csv>``: the file the LC writes for a
    round (``data.csv``, header first, for a csv Dataset, as Sedna names it)."""
    return join_url(output_dir, "data", stage, round_, "data.csv" if fmt.lower() == "csv" else "data.txt")


def dataset_format(obs: Observation) -> str:
    """The format of the job's Dataset (``txt`` until it is observed)."""
    dataset = obs.datasets.get(obs.resource.spec.dataset.name)
    return dataset.format if dataset is not None else "txt"


def stage_output(output_dir: str, stage: str, round_: int) -> str:
    """``<outputDir>/<train|eval>/<round>``: where a stage worker writes."""
    return join_url(output_dir, stage, round_)


@dataclass
class Step:
    """A flavour's answer for the Deploy stage: the condition to append (if any) and extras."""

    condition: dict[str, Any] | None = None
    requeue_after: float | None = None


@dataclass
class Cycle:
    """Mutable view of one reconcile: the resource, plan, state and the conditions so far."""

    obs: Observation
    plan: Plan
    state: CycleState
    conditions: list[dict[str, Any]]
    round: int

    @property
    def job(self) -> Resource[Any, Any]:
        return self.obs.resource

    @property
    def now(self) -> datetime:
        return self.obs.now

    def state_as(self, cls: type[S]) -> S:
        """The state typed as the kind's own (``Flavor.state_type``)."""
        if not isinstance(self.state, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(self.state).__name__}")
        return self.state

    def attempts(self) -> dict[str, int]:
        return self.state.attempts

    def data(self) -> dict[str, Any]:
        """The ``data`` JSON of the last condition, parsed."""
        if not self.conditions:
            return {}
        try:
            out = json.loads(self.conditions[-1].get("data") or "{}")
            return out if isinstance(out, dict) else {}
        except ValueError:
            return {}

    def transit(self, ctype: str, stage: str, reason: str, message: str, data: dict[str, Any] | None = None,
                *, warning: bool = False) -> None:
        cond: dict[str, Any] = {"type": ctype, "stage": stage, "reason": reason, "message": message}
        if data is not None:
            cond["data"] = json.dumps(data, sort_keys=True)
        self.conditions = append_condition(self.conditions, cond, self.now)
        event(self.plan, reason, f"{stage} {ctype.lower()}: {message}", warning=warning)


@dataclass
class Flavor:
    """What differs between IL and LL."""

    kind: str
    build_stage: Callable[[Cycle, str, dict[str, Any], int], tuple[WorkerPlan, str]]
    """(cycle, stage, condition data, attempt) -> (worker plan, template hash) of a train/eval worker."""
    inference_slot: Callable[[Cycle], Slot | None]
    """The inference worker's slot now, or None when there must be none yet."""
    train_input: Callable[[Cycle, int], dict[str, Any] | None]
    """Condition ``input`` for Ready/Train of a round (None: a prerequisite is missing)."""
    eval_input: Callable[[Cycle], dict[str, Any] | None]
    deploy_decision: Callable[[Cycle], Step]
    deploy_ready: Callable[[Cycle], Step]
    deploy_running: Callable[[Cycle, str], Step]
    status_extras: Callable[[Cycle], dict[str, Any]]
    train_trigger: Callable[[Resource[Any, Any]], Any]
    state_type: type[CycleState] = CycleState
    """The kind's typed ``controllerState``."""


def _finished_plan(obs: Observation) -> Plan:
    return Plan(finished=True)


def _reports_for(obs: Observation, name: str) -> WorkerReport | None:
    return obs.reports.get(name)


def _reported_completed(obs: Observation, name: str) -> bool:
    report = obs.reports.get(name)
    return report is not None and report.status.lower() in ("completed", "succeeded")


def _stage_worker(cy: Cycle, flavor: Flavor, stage: str) -> tuple[ObservedWorker | None, str, bool]:
    """Sync the current round's stage worker: (observed worker, its name, just created)."""
    role = STAGE_ROLE[stage]
    key = f"{role}-r{cy.round}"
    data = cy.data()
    attempts = cy.attempts()

    def build(attempt: int) -> WorkerPlan:
        return flavor.build_stage(cy, stage, data, attempt)[0]

    template_hash = flavor.build_stage(cy, stage, data, attempts.get(key, 0))[1]
    # Workers of earlier rounds of this role are not needed any more.
    for w in cy.obs.workers:
        if w.role == role and not w.deleting and w.labels.get(WORKER_KEY_LABEL, key) != key:
            cy.plan.delete_workers.append(w.name)
    n_before = len(cy.plan.create_workers)
    worker = sync_slot(cy.obs, cy.plan, attempts, Slot(key, build, template_hash), replace_failed=False, what=f"{role} worker")
    name = worker_name(cy.job, role, f"{key}.{attempts.get(key, 0)}")
    return worker, name, len(cy.plan.create_workers) > n_before


def stage_labels(key: str, round_: int) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) marking a stage worker's slot and round."""
    return {WORKER_KEY_LABEL: key}, {ROUND_ANNOTATION: str(round_)}




def _train_waiting(cy: Cycle, flavor: Flavor) -> float | None:
    job = cy.job
    spec = job.spec
    dataset = cy.obs.datasets.get(spec.dataset.name)
    if dataset is None:
        return 10.0
    count = dataset.number_of_samples
    baseline = cy.state.baseline
    if count < baseline:
        event(cy.plan, "DatasetShrank", f"dataset {dataset.name} has {count} samples, fewer than the {baseline} used; counting from {count}", warning=True)
        baseline = count
        cy.state.baseline = baseline
    new_samples = int((count - baseline) * spec.dataset.train_prob)
    trigger = flavor.train_trigger(job)
    result = triggers.evaluate(trigger, {"num_of_samples": new_samples}, cy.now, cy.state.last_check)
    if result.evaluated:
        cy.state.last_check = iso(cy.now)
    if not result.fired:
        return result.requeue_after
    next_round = cy.round + 1
    train_input = flavor.train_input(cy, next_round)
    if train_input is None:
        return 10.0
    cy.round = next_round
    cy.state.previous_baseline = baseline
    cy.state.baseline = count
    out = spec.output_dir
    cy.state.round_data = {
        "round": next_round,
        "dataset": dataset.name,
        "from": baseline,
        "to": count,
        "trainProb": spec.dataset.train_prob,
        "train": round_data_path(out, "train", next_round, dataset_format(cy.obs)),
        "eval": round_data_path(out, "eval", next_round, dataset_format(cy.obs)),
    }
    cy.transit("Ready", "Train", "TrainTriggered", f"round {next_round}: {new_samples} new training samples",
               {"input": train_input})
    return 0.0


def _stage_active(cy: Cycle, flavor: Flavor, ctype: str, stage: str) -> float | None:
    worker, name, created = _stage_worker(cy, flavor, stage)
    if created or worker is None:
        return 5.0
    report = _reports_for(cy.obs, name)
    kind = stage.lower()
    if report is not None and report.kind.lower() == kind and report.status.lower() == "failed":
        cy.transit("Failed", stage, "WorkerReportedFailure", f"{name} reported a failure",
                   {**cy.data(), "output": {"models": report.results}}, warning=True)
        return 0.0
    if worker.phase == "Failed" or worker.restarts > MAX_CONTAINER_RESTARTS:
        why = "failed" if worker.phase == "Failed" else f"restarted {worker.restarts} times"
        cy.transit("Failed", stage, "WorkerFailed", f"{name} {why}", cy.data(), warning=True)
        return 0.0
    completed = report is not None and report.kind.lower() == kind and report.status.lower() == "completed"
    if completed or worker.phase == "Succeeded":
        if not completed:
            seen = parse_time(cy.state.succeeded_seen)
            if seen is None:
                cy.state.succeeded_seen = iso(cy.now)
                return 5.0
            if (cy.now - seen).total_seconds() < REPORT_GRACE_SECONDS:
                return 5.0
        cy.state.succeeded_seen = None  # written as a deletion (see .state)
        results = list(report.results) if completed and report is not None else []
        if stage == "Train":
            if not results:
                results = [{"url": stage_output(cy.job.spec.output_dir, "train", cy.round), "format": "", "metrics": {}}]
            cy.state.trained = results
        else:
            cy.state.evaluated = results
        cy.transit("Completed", stage, "WorkerCompleted", f"{name} completed", {**cy.data(), "output": {"models": results}})
        return 0.0
    if ctype == "Starting" and worker.phase == "Running":
        if worker.node:
            cy.plan.annotations[f"sedna.io/{stage}"] = worker.node
        cy.transit("Running", stage, "WorkerRunning", f"{name} is running", cy.data())
        return None
    return None


def _finish(cy: Cycle, reason: str, message: str) -> None:
    cy.plan.finished = True
    cy.state.finished = True
    event(cy.plan, reason, message)


def run(obs: Observation, flavor: Flavor) -> Plan:
    """One reconcile of an IL/LL job."""
    job = obs.resource
    plan = Plan()
    if job.metadata.deletion_timestamp is not None:
        return plan
    status = job.status
    if status.completion_time is not None:
        return _finished_plan(obs)
    state = flavor.state_type.of(job)
    conditions = conditions_of(job)
    cy = Cycle(obs=obs, plan=plan, state=state, conditions=list(conditions), round=status.round or 0)
    patch: dict[str, Any] = {}
    requeue: float | None = None
    if status.start_time is None:
        patch["startTime"] = iso(obs.now)

    last = conditions[-1] if conditions else None
    ctype, stage = (last.get("type"), last.get("stage")) if last else (None, None)
    max_rounds = job.spec.max_rounds
    completed_rounds = state.completed_rounds

    if last is None:
        cy.transit("Waiting", "Train", "JobStarted", "waiting for the train trigger")
        requeue = 0.0
    elif ctype == "Waiting" and stage == "Train":
        if max_rounds is not None and completed_rounds >= max_rounds:
            cy.transit("Completed", "Deploy", "MaxRoundsReached", f"{completed_rounds} rounds completed (maxRounds {max_rounds})")
            patch["completionTime"] = iso(obs.now)
            _finish(cy, "JobCompleted", f"maxRounds {max_rounds} reached")
        else:
            requeue = _train_waiting(cy, flavor)
    elif ctype == "Ready" and stage in ("Train", "Eval"):
        data_file = round_data_path(job.spec.output_dir, stage.lower(), cy.round, dataset_format(obs))
        if obs.lc_files.get(data_file) is False:
            requeue = 2.0
        else:
            worker, name, _ = _stage_worker(cy, flavor, stage)
            cy.transit("Starting", stage, "WorkerCreated", f"{name} for round {cy.round}", cy.data())
            requeue = 5.0
    elif ctype in ("Starting", "Running") and stage in ("Train", "Eval"):
        requeue = _stage_active(cy, flavor, ctype, stage)
    elif ctype == "Completed" and stage == "Train":
        cy.transit("Waiting", "Eval", "TrainCompleted", f"round {cy.round} trained; evaluating")
        requeue = 0.0
    elif ctype == "Waiting" and stage == "Eval":
        eval_input = flavor.eval_input(cy)
        if eval_input is None:
            requeue = 10.0
        else:
            cy.transit("Ready", "Eval", "EvalReady", f"round {cy.round}: evaluating", {"input": eval_input})
            requeue = 0.0
    elif ctype == "Completed" and stage == "Eval":
        cy.transit("Waiting", "Deploy", "EvalCompleted", f"round {cy.round} evaluated; deciding on deploy")
        requeue = 0.0
    elif ctype == "Waiting" and stage == "Deploy":
        step = flavor.deploy_decision(cy)
        requeue = step.requeue_after
    elif ctype == "Ready" and stage == "Deploy":
        step = flavor.deploy_ready(cy)
        requeue = step.requeue_after
    elif ctype in ("Starting", "Running") and stage == "Deploy":
        step = flavor.deploy_running(cy, ctype)
        requeue = step.requeue_after
    elif ctype == "Completed" and stage == "Deploy":
        completed_rounds += 1
        state.completed_rounds = completed_rounds
        state.deploy = None
        if max_rounds is not None and completed_rounds >= max_rounds:
            patch["completionTime"] = iso(obs.now)
            _finish(cy, "JobCompleted", f"round {cy.round} completed; maxRounds {max_rounds} reached")
        else:
            cy.transit("Waiting", "Train", "RoundCompleted", f"round {cy.round} completed; waiting for the train trigger")
            requeue = 0.0
    elif ctype == "Failed":
        # The samples of the failed round are trained again in the next one.
        if state.previous_baseline is not None:
            state.baseline = state.previous_baseline
        state.deploy = None
        cy.transit("Waiting", "Train", "RoundFailed", f"{stage} of round {cy.round} failed; back to Train", warning=True)
        requeue = 0.0
    else:
        requeue = 30.0

    # The inference worker is kept alive (replaced when failed, deleted or out of date).
    if not plan.finished:
        slot = flavor.inference_slot(cy)
        if slot is not None:
            sync_slot(obs, plan, cy.attempts(), slot, what="inference worker")
    if plan.finished:
        # Stage workers still at work are stopped; one that has reported its stage completed is
        # only exiting (its pod is Running for a moment more) and is left to end on its own, as
        # a completed worker is kept, not deleted.
        plan.delete_workers = sorted({*plan.delete_workers, *(w.name for w in obs.workers
                                      if not w.deleting and w.phase in ("Pending", "Running") and w.role != "inference"
                                      and not _reported_completed(obs, w.name))})

    if cy.conditions != conditions:
        patch["conditions"] = cy.conditions
    if cy.round != (status.round or 0) or status.round is None:
        patch["round"] = cy.round
    patch.update(flavor.status_extras(cy))
    if job.metadata.generation is not None and status.observed_generation != job.metadata.generation:
        patch["observedGeneration"] = job.metadata.generation
    if state_patch := state.patch(job):
        patch["controllerState"] = state_patch
    plan.status_patch = patch
    if not plan.finished:
        candidates = [v for v in (requeue, plan.requeue_after) if v is not None]
        plan.requeue_after = min(candidates) if candidates else 60.0
    else:
        plan.requeue_after = None
    return plan

