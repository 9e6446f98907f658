"""Run policies of the training jobs (FL, IL, LL), around each kind's own reconcile.

Optional spec fields, additive to Sedna's schema, with batch/v1 Job's and Kubeflow's meaning
(:class:`~sedna_operator.api.base.RunPolicy`):

- ``activeDeadlineSeconds``: a job running longer than this, counted from its start or its last
  resume, fails with reason ``DeadlineExceeded``; its workers are deleted.
- ``ttlSecondsAfterFinished``: a finished job is deleted this long after ``completionTime``
  (its workers and Services go with it, by their owner references).
- ``suspend``: while true, the job's workers are deleted and none is created; a ``Suspended``
  condition says so. Set back to false, the job goes on where it was (a worker deleted mid-stage
  is recreated, as after any deletion) and the deadline counts from the resume.
- FL only, ``schedulingTimeoutSeconds`` (default 600): a worker Pending that long (its
  ``nodeName`` names no node, nothing can pull its image) fails the job with the reason,
  instead of a partial start waiting for ever.

``Suspended`` is kept as ``Ready`` is (:mod:`.readiness`): one condition, first in the list,
updated in place, so the newest condition stays the state. The kind's reconcile never sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..api import Resource
from .common import append_condition, conditions_of, event, iso, parse_time
from .plan import Observation, Plan
from .readiness import Readiness, split_ready, with_ready

__all__ = [
    "SUSPENDED",
    "DEFAULT_SCHEDULING_TIMEOUT",
    "JobTerms",
    "with_run_policy",
    "FL_TERMS",
    "LEARNING_TERMS",
]

SUSPENDED = "Suspended"
DEFAULT_SCHEDULING_TIMEOUT = 600.0


@dataclass(frozen=True)
class JobTerms:
    """How one kind writes a terminal failure, and whether it has a scheduling timeout."""

    fail_patch: Callable[[Resource[Any, Any], list[dict[str, Any]], str, str, datetime], dict[str, Any]]
    scheduling_timeout: bool = False


def _fl_fail(job: Resource[Any, Any], history: list[dict[str, Any]], reason: str, message: str, now: datetime) -> dict[str, Any]:
    # FL's Ready condition (readiness.py) stays first, and turns False: nothing aggregates now.
    ready, rest = split_ready(history)
    conditions = append_condition(rest, {"type": "Failed", "reason": reason, "message": message}, now)
    if ready is not None:
        conditions = with_ready(conditions, ready, Readiness(False, "JobFailed", message, finished=True), now)
    return {"phase": "Failed", "completionTime": iso(now), "conditions": conditions}


def _learning_fail(
    job: Resource[Any, Any], history: list[dict[str, Any]], reason: str, message: str, now: datetime
) -> dict[str, Any]:
    stage = (history[-1].get("stage") if history else None) or "Train"
    conditions = append_condition(history, {"type": "Failed", "stage": stage, "reason": reason, "message": message}, now)
    return {"completionTime": iso(now), "conditions": conditions}


FL_TERMS = JobTerms(_fl_fail, scheduling_timeout=True)
LEARNING_TERMS = JobTerms(_learning_fail)


def _without_suspended(obs: Observation) -> Observation:
    """The observation the kind's reconcile sees: its history without the pinned condition."""
    resource = obs.resource
    conditions = [c for c in resource.status.conditions if c.type != SUSPENDED]
    if len(conditions) == len(resource.status.conditions):
        return obs
    status = resource.status.model_copy(update={"conditions": conditions})
    return obs.model_copy(update={"resource": resource.model_copy(update={"status": status})})


def _pin(plan: Plan, obs: Observation, current: dict[str, Any] | None, want: Readiness | None) -> None:
    """Put the ``Suspended`` condition (when there is one) first in whatever conditions the
    plan writes, and write it alone when only it changed."""
    full = conditions_of(obs.resource)
    _, history = split_ready(full, SUSPENDED)
    written = plan.status_patch.get("conditions")
    base = list(written) if written is not None else history
    if want is None:
        pinned = [current, *base] if current is not None else base
    else:
        pinned = with_ready(base, current, want, obs.now, kind=SUSPENDED)
    if written is not None or pinned != full:
        plan.status_patch["conditions"] = pinned


def _delete_all(obs: Observation, plan: Plan) -> None:
    plan.create_workers = []
    plan.delete_workers = sorted({*plan.delete_workers, *(w.name for w in obs.workers if not w.deleting)})


def _fail(obs: Observation, plan: Plan, terms: JobTerms, reason: str, message: str) -> None:
    """Turn ``plan`` into the job's terminal failure: every worker deleted, finished. The
    failure follows whatever conditions this pass already wrote (a round, a stage)."""
    written = plan.status_patch.get("conditions")
    _, history = split_ready(written if written is not None else conditions_of(obs.resource), SUSPENDED)
    _delete_all(obs, plan)
    plan.status_patch.update(terms.fail_patch(obs.resource, history, reason, message, obs.now))
    if "active" in plan.status_patch or getattr(obs.resource.status, "active", None):
        plan.status_patch["active"] = 0  # every worker is being deleted
    event(plan, reason, message, warning=True)
    plan.finished = True
    plan.requeue_after = None


def _expiry(obs: Observation, plan: Plan) -> None:
    ttl = getattr(obs.resource.spec, "ttl_seconds_after_finished", None)
    done = parse_time(getattr(obs.resource.status, "completion_time", None)) or parse_time(plan.status_patch.get("completionTime"))
    if ttl is None or done is None:
        return
    left = (done - obs.now).total_seconds() + ttl
    if left <= 0:
        plan.delete_self = True
        event(plan, "Expired", f"finished {ttl + max(0.0, -left):.0f}s ago (ttlSecondsAfterFinished {ttl}): deleting the job")
    else:
        plan.expires_in = left


def _sooner(plan: Plan, seconds: float) -> None:
    """Requeue within ``seconds`` (or sooner, if the kind's reconcile asked for that)."""
    plan.requeue_after = seconds if plan.requeue_after is None else min(plan.requeue_after, seconds)


def _scheduling(obs: Observation, plan: Plan, terms: JobTerms, timeout: float) -> bool:
    """Fail the job when a worker has been Pending ``timeout`` seconds (True), else requeue for
    the first one that will have been."""
    pending = [w for w in obs.workers if not w.deleting and w.phase == "Pending" and w.created_at is not None]
    left = {w.name: timeout - (obs.now - w.created_at).total_seconds() for w in pending}  # type: ignore[operator]
    late = [w for w in pending if left[w.name] <= 0]
    if late:
        parts = [f"{w.name} (node {w.node or 'none'}{': ' + w.waiting_reason if w.waiting_reason else ''})" for w in late]
        _fail(obs, plan, terms, "SchedulingTimeout",
              f"pending for more than {timeout:.0f}s (schedulingTimeoutSeconds): {', '.join(parts)}")  # fmt: skip
        return True
    if left:
        _sooner(plan, max(1.0, min(left.values())))
    return False


def with_run_policy(obs: Observation, reconcile: Callable[[Observation], Plan], terms: JobTerms) -> Plan:
    """``reconcile(obs)`` under the job's run policies (see the module's docstring)."""
    job = obs.resource
    spec = job.spec
    if job.metadata.deletion_timestamp is not None:
        return reconcile(obs)
    current, _ = split_ready(conditions_of(job), SUSPENDED)
    finished = getattr(job.status, "completion_time", None) is not None
    if finished:
        plan = reconcile(_without_suspended(obs))
        _pin(plan, obs, current, None)
        _expiry(obs, plan)
        return plan

    if spec.suspend:
        plan = Plan()
        _delete_all(obs, plan)
        want = Readiness(True, "JobSuspended", "spec.suspend is true: no worker runs")
        _pin(plan, obs, current, want)
        if getattr(job.status, "active", None):
            plan.status_patch["active"] = 0
        if current is None or current.get("status") != "True":
            event(plan, "Suspended", "spec.suspend is true: the workers are deleted")
        return plan

    plan = reconcile(_without_suspended(obs))
    resumed = current is not None and current.get("status") == "True"
    if resumed:
        # batch/v1 Job: a resume restarts the deadline's clock.
        plan.status_patch["startTime"] = iso(obs.now)
        event(plan, "Resumed", "spec.suspend is false: the job goes on")
    _pin(plan, obs, current, Readiness(False, "JobResumed", "the job runs") if current is not None else None)
    if plan.finished:
        _expiry(obs, plan)
        return plan

    started = obs.now if resumed else (parse_time(job.status.start_time) or obs.now)
    deadline = spec.active_deadline_seconds
    failed = False
    if deadline is not None:
        left = (started - obs.now).total_seconds() + deadline
        if left <= 0:
            _fail(obs, plan, terms, "DeadlineExceeded", f"the job ran longer than activeDeadlineSeconds ({deadline}s)")
            failed = True
        else:
            _sooner(plan, left)
    if not failed and terms.scheduling_timeout:
        timeout = float(getattr(spec, "scheduling_timeout_seconds", None) or DEFAULT_SCHEDULING_TIMEOUT)
        failed = _scheduling(obs, plan, terms, timeout)
    if failed:
        _pin(plan, obs, current, None)
        _expiry(obs, plan)
    return plan
