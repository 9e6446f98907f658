"""FederatedLearningJob: an aggregation worker (Service ``<job>-aggregation:7363``) and trainers.

Phases Pending/Running/Succeeded/Failed; counters active/succeeded/failed; a ``Training``
condition per new round reported by the workers; the aggregation Model's status metrics from
the aggregator's report. Differences from Sedna (docs/reconcilers.md): a failed worker is
restarted with exponential backoff (10 s doubling, at most 360 s) up to ``spec.maxRestarts``
(default 3; the kubelet's in-place restarts of OnFailure containers count too) before the job
fails; the job completes when the aggregation worker succeeds and every trainer has ended, or ``TRAINER_EXIT_GRACE`` seconds after the aggregator succeeded (a
trainer saves its model after the last round; on a cluster, deleting it at once cut that short),
when the trainers still running are deleted; a spec edit rolls only the workers it affects.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

from ..api import FederatedLearningJob, Resource
from .common import (
    Slot,
    append_condition,
    cleanup_plan,
    conditions_of,
    event,
    iso,
    mount_set,
    parse_time,
    sync_slot,
    typed,
)
from .lifecycle import FL_TERMS, with_run_policy
from .plan import Observation, ObservedWorker, Plan, WorkerPlan, WorkerReport
from .readiness import Readiness, flip_event, split_ready, with_ready
from .state import FederatedState
from .workers import WORKER_KEY_LABEL, PodExtras, build_service, build_worker, env, spec_hash, worker_name

__all__ = [
    "AGG_PORT",
    "DEFAULT_MAX_RESTARTS",
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "backoff_seconds",
    "aggregation_service_name",
    "reconcile",
    "cleanup",
]

AGG_PORT = 7363
DEFAULT_MAX_RESTARTS = 3
BACKOFF_BASE = 10.0
BACKOFF_MAX = 360.0
AGG_KEY = "aggregation"
# After the aggregator succeeds, trainers still running get this long to end on their own.
TRAINER_EXIT_GRACE = 30.0


def backoff_seconds(restarts: int) -> float:
    """Delay before restart number ``restarts`` (1-based): 10 s, 20 s, 40 s, ... at most 360 s."""
    return min(BACKOFF_BASE * 2 ** max(restarts - 1, 0), BACKOFF_MAX)


def aggregation_service_name(job: Resource[Any, Any]) -> str:
    return f"{job.name}-aggregation".lower()


def _transmitter(job: FederatedLearningJob) -> tuple[str, str | None, str | None]:
    """(TRANSMITTER, s3 aggDataPath, its credential): s3 when configured, else ws (the default)."""
    t = job.spec.transmitter
    if t is not None and t.s3 is not None:
        return "s3", t.s3.agg_data_path, t.s3.credential_name
    return "ws", None, None


def _slots(obs: Observation, job: FederatedLearningJob) -> tuple[dict[str, Slot], list[str]]:
    """The slots of the job (aggregation, train-<i>) and the names of missing Models/Datasets."""
    missing: list[str] = []
    spec = job.spec
    agg_model = obs.models.get(spec.aggregation_worker.model.name)
    pre_model = obs.models.get(spec.pretrained_model.name) if spec.pretrained_model else None
    if agg_model is None:
        missing.append(f"Model/{spec.aggregation_worker.model.name}")
    if spec.pretrained_model and pre_model is None:
        missing.append(f"Model/{spec.pretrained_model.name}")
    transmitter, agg_path, agg_cred = _transmitter(job)
    participants = len(spec.training_workers)
    slots: dict[str, Slot] = {}
    if agg_model is None or (spec.pretrained_model and pre_model is None):
        return slots, missing

    def mounts_for(extra: list[tuple[str, str, str | None]]) -> PodExtras:
        mounts = mount_set(obs)
        mounts.add("MODEL_URL", agg_model.url, credential_name=agg_model.credential_name)
        if pre_model is not None:
            mounts.add("PRETRAINED_MODEL_URL", pre_model.url, credential_name=pre_model.credential_name)
        if agg_path:
            mounts.add(
                "AGG_DATA_PATH", agg_path, download=False, credential_name=agg_cred, is_dir=True, create=True
            )
        for name, url, cred in extra:
            mounts.add(name, url, credential_name=cred)
        return mounts.extras()

    base_inputs = {
        "model": agg_model.url,
        "pretrained": pre_model.url if pre_model else None,
        "transmitter": [transmitter, agg_path, agg_cred],
        "participants": participants,
    }
    common = [
        env("NAMESPACE", job.namespace),
        env("JOB_NAME", job.name),
        env("PARTICIPANTS_COUNT", participants),
        env("TRANSMITTER", transmitter),
    ]
    agg_hash = spec_hash(spec.aggregation_worker.template, base_inputs)

    def build_agg(attempt: int) -> WorkerPlan:
        extras = PodExtras(
            env=[*common, env("AGG_BIND_PORT", AGG_PORT)],
            restart_policy="OnFailure",
            readiness_port=AGG_PORT,
            labels={WORKER_KEY_LABEL: AGG_KEY},
        )
        extras.extend(mounts_for([]))
        return build_worker(
            job,
            role="aggregation",
            template=spec.aggregation_worker.template,
            attempt=f"{AGG_KEY}.{attempt}",
            extras=extras,
            lc_server=obs.lc_server,
            template_hash=agg_hash,
        )

    slots[AGG_KEY] = Slot(AGG_KEY, build_agg, agg_hash)
    for i, trainer in enumerate(spec.training_workers):
        dataset = obs.datasets.get(trainer.dataset.name)
        if dataset is None:
            missing.append(f"Dataset/{trainer.dataset.name}")
            continue
        key = f"train-{i}"
        inputs = {**base_inputs, "dataset": [dataset.name, dataset.url, dataset.credential_name]}
        train_hash = spec_hash(trainer.template, inputs)
        train_env = [
            *common,
            env("AGG_IP", f"{aggregation_service_name(job)}.{job.namespace}"),
            env("AGG_PORT", AGG_PORT),
            env("MODEL_NAME", spec.aggregation_worker.model.name),
            env("DATASET_NAME", dataset.name),
        ]

        def build_train(
            attempt: int,
            *,
            _key: str = key,
            _t: Any = trainer,
            _env: Any = train_env,
            _hash: str = train_hash,
            _url: str = dataset.url,
        ) -> WorkerPlan:
            extras = PodExtras(
                env=list(_env), restart_policy="OnFailure", host_network=True, labels={WORKER_KEY_LABEL: _key}
            )
            cred = obs.datasets[_t.dataset.name].credential_name
            extras.extend(mounts_for([("TRAIN_DATASET_URL", _url, cred)]))
            return build_worker(
                job,
                role="train",
                template=_t.template,
                attempt=f"{_key}.{attempt}",
                extras=extras,
                lc_server=obs.lc_server,
                template_hash=_hash,
            )

        slots[key] = Slot(key, build_train, train_hash)
    return slots, missing


def _job_reports(obs: Observation, job: Resource[Any, Any]) -> list[WorkerReport]:
    names = {w.name for w in obs.workers}
    prefixes = (f"{job.name}-train-", f"{job.name}-aggregation-")
    return [r for n, r in obs.reports.items() if n in names or n.startswith(prefixes)]


def _round_of(report: WorkerReport) -> int:
    try:
        return int(report.owner_info.get("currentRound") or 0)
    except (TypeError, ValueError):
        return 0


def _metrics_list(metrics: Any) -> list[dict[str, str]]:
    if isinstance(metrics, dict):
        items = sorted(metrics.items())
    elif isinstance(metrics, list):
        items = [(m.get("key"), m.get("value")) for m in metrics if isinstance(m, dict) and "key" in m]
    else:
        return []
    return [{"key": str(k), "value": v if isinstance(v, str) else json.dumps(v)} for k, v in items]


def _round_metrics(reports: list[WorkerReport], round_number: int) -> dict[str, float]:
    """The mean of each numeric metric the workers reported for ``round_number``.

    Each training worker evaluates the aggregated model on its own validation data and sends
    ``results[0].metrics`` (``{name: value}`` or Sedna's ``{name: [value]}``); the aggregator's
    own report carries none.
    """
    seen: dict[str, list[float]] = {}
    for report in reports:
        if _round_of(report) != round_number or not report.results or not isinstance(report.results[0], dict):
            continue
        metrics = report.results[0].get("metrics")
        if not isinstance(metrics, dict):
            continue
        for name, value in metrics.items():
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                seen.setdefault(str(name), []).append(float(value))
    return {name: round(sum(values) / len(values), 6) for name, values in sorted(seen.items())}


def _model_report(
    obs: Observation, job: Resource[Any, Any], reports: list[WorkerReport]
) -> WorkerReport | None:
    """The aggregator's latest report with result metrics, else the latest trainer's one."""
    with_metrics = [
        r for r in reports if r.results and isinstance(r.results[0], dict) and r.results[0].get("metrics")
    ]
    agg = [r for r in with_metrics if r.worker.startswith(f"{job.name}-aggregation-")]
    pool = agg or with_metrics
    return max(pool, key=lambda r: (r.received_at, r.sequence), default=None)




def _trainer_grace_left(obs: Observation, state: FederatedState) -> float:
    """Seconds the running trainers may still take after the aggregator succeeded (0: none run,
    or the grace is over). Records when the aggregator was first seen succeeded."""
    running = [w for w in obs.workers if not w.deleting and w.role == "train" and w.phase in ("Pending", "Running")]
    if not running:
        return 0.0
    since = parse_time(state.aggregator_succeeded_at)
    if since is None:
        since = obs.now
        state.aggregator_succeeded_at = iso(obs.now)
    return max(0.0, TRAINER_EXIT_GRACE - (obs.now - since).total_seconds())


def readiness(aggregator: ObservedWorker | None, *, finished: bool) -> Readiness:
    """Ready while the aggregator accepts the trainers' connections."""
    if finished:
        return Readiness(False, "AggregationFinished", "the aggregation worker has finished", finished=True)
    if aggregator is None or aggregator.phase != "Running":
        return Readiness(False, "AggregatorNotReady", "the aggregation worker is not running")
    if not aggregator.serving:
        return Readiness(False, "AggregatorNotReady", "the aggregation worker does not accept connections yet")
    return Readiness(True, "AggregatorReady", "the aggregation worker accepts the trainers' connections")


def reconcile(obs: Observation) -> Plan:
    """Run the job's workers to completion; restart failed workers with backoff; under the
    job's run policies (deadline, TTL, suspend, scheduling timeout: :mod:`.lifecycle`)."""
    typed(obs.resource, FederatedLearningJob)
    return with_run_policy(obs, _reconcile, FL_TERMS)


def _reconcile(obs: Observation) -> Plan:
    job = typed(obs.resource, FederatedLearningJob)
    plan = Plan()
    status = job.status
    if job.metadata.deletion_timestamp is not None:
        return plan
    if status.phase in ("Succeeded", "Failed"):
        plan.delete_workers = [
            w.name for w in obs.workers if not w.deleting and w.phase in ("Pending", "Running")
        ]
        plan.finished = True
        return plan

    state = FederatedState.of(job)
    attempts, restarts, backoff, done = state.attempts, state.restarts, state.backoff_until, state.done
    failures = state.failures
    max_restarts = job.spec.max_restarts if job.spec.max_restarts is not None else DEFAULT_MAX_RESTARTS
    patch: dict[str, Any] = {}
    ready_condition, conditions = split_ready(conditions_of(job))
    if status.start_time is None:
        patch["startTime"] = iso(obs.now)

    slots, missing = _slots(obs, job)
    if missing and not slots:
        plan.requeue_after = 10.0
    plan.services.append(build_service(job, "aggregation", AGG_PORT))

    observed: dict[str, ObservedWorker] = {}
    exhausted: str | None = None
    agg_succeeded = False
    for key, slot in slots.items():
        if key in done:
            continue
        attempt = attempts.get(key, 0)
        role = "aggregation" if key == AGG_KEY else "train"
        expected = worker_name(job, role, f"{key}.{attempt}")
        current = next((w for w in obs.workers if w.name == expected and not w.deleting), None)
        if current is not None and current.phase == "Succeeded":
            if key == AGG_KEY:
                agg_succeeded = True
            else:
                done.append(key)
            continue
        if current is not None and current.restarts > max_restarts:
            # OnFailure workers are restarted in place by the kubelet: those restarts count too.
            exhausted = f"{current.name} restarted {current.restarts} times (maxRestarts {max_restarts})"
            break
        if current is not None and current.phase == "Failed":
            failures += 1
            restarts[key] = restarts.get(key, 0) + 1
            plan.delete_workers.append(current.name)
            if restarts[key] > max_restarts:
                exhausted = f"{current.name} failed {restarts[key]} times (maxRestarts {max_restarts})"
                break
            delay = backoff_seconds(restarts[key])
            attempts[key] = attempt + 1
            backoff[key] = iso(obs.now + timedelta(seconds=delay))
            event(
                plan,
                "WorkerFailed",
                f"{current.name} failed; restart {restarts[key]}/{max_restarts} in {delay:.0f}s",
                warning=True,
            )
            plan.requeue_after = min(plan.requeue_after or delay, delay)
            continue
        until = parse_time(backoff.get(key))
        if until is not None and obs.now < until:
            wait = (until - obs.now).total_seconds()
            plan.requeue_after = min(plan.requeue_after or wait, wait)
            continue
        backoff.pop(key, None)
        worker = sync_slot(obs, plan, attempts, slot, replace_failed=False, what=f"{role} worker")
        if worker is not None:
            observed[key] = worker

    reports = _job_reports(obs, job)
    if exhausted is not None:
        plan.delete_workers = sorted({*plan.delete_workers, *(w.name for w in obs.workers if not w.deleting)})
        plan.create_workers = []
        patch.update(phase="Failed", completionTime=iso(obs.now))
        conditions = append_condition(
            conditions, {"type": "Failed", "reason": "workerFailed", "message": exhausted}, obs.now
        )
        event(plan, "Failed", exhausted, warning=True)
        plan.finished = True
        plan.requeue_after = None
    elif agg_succeeded and (grace := _trainer_grace_left(obs, state)) > 0:
        # The aggregator is done; the trainers get a moment to finish on their own.
        plan.requeue_after = min(plan.requeue_after or grace, grace)
    elif agg_succeeded:
        remaining = [
            w.name
            for w in obs.workers
            if not w.deleting and w.role == "train" and w.phase in ("Pending", "Running")
        ]
        plan.delete_workers = sorted({*plan.delete_workers, *remaining})
        plan.create_workers = []
        plan.delete_services.append(aggregation_service_name(job))
        plan.services = []
        patch.update(phase="Succeeded", completionTime=iso(obs.now))
        message = "the aggregation worker completed"
        conditions = append_condition(
            conditions, {"type": "Complete", "reason": "Completed", "message": message}, obs.now
        )
        event(plan, "Completed", message)
        plan.finished = True
        plan.requeue_after = None
    else:
        any_running = any(w.phase == "Running" for w in observed.values())
        phase = "Running" if any_running else "Pending"
        if phase != status.phase:
            patch["phase"] = phase
            event(plan, phase, f"job is {phase.lower()}")
        if missing:
            plan.requeue_after = min(plan.requeue_after or 10.0, 10.0)

    # Rounds: one Training condition per new round reported.
    latest_round = max((_round_of(r) for r in reports), default=0)
    if latest_round > (status.current_round or 0):
        patch["currentRound"] = latest_round
        top = max((r for r in reports if _round_of(r) == latest_round), key=lambda r: r.received_at)
        when = top.owner_info.get("updateTime") or iso(top.received_at)
        metrics = _round_metrics(reports, latest_round)
        quality = f" ({', '.join(f'{k}={v:g}' for k, v in metrics.items())})" if metrics else ""
        conditions = append_condition(
            conditions,
            {
                "type": "Training",
                "reason": "DoTraining",
                "message": f"Round {latest_round} reaches at {when}{quality}",
            },
            obs.now,
        )
        event(plan, "Training", f"round {latest_round} reported{quality}")
    round_metrics = _metrics_list(_round_metrics(reports, max(latest_round, status.current_round or 0)))
    if round_metrics and round_metrics != [m.model_dump() for m in status.metrics or []]:
        patch["metrics"] = round_metrics
    ready = readiness(observed.get(AGG_KEY), finished=plan.finished or agg_succeeded)
    conditions = with_ready(conditions, ready_condition, ready, obs.now)
    flip_event(plan, ready_condition, ready)
    if conditions != conditions_of(job):
        patch["conditions"] = conditions
    agg = observed.get(AGG_KEY)
    if not plan.finished and agg is not None and agg.phase == "Running" and not ready.ready:
        # A runtime that cannot watch readiness (the local one probes the port) looks again soon.
        plan.requeue_after = min(plan.requeue_after or 3.0, 3.0)

    model_report = _model_report(obs, job, reports)
    if model_report is not None:
        marker = f"{model_report.worker}/{model_report.sequence}/{iso(model_report.received_at)}"
        if marker != state.model_report:
            state.model_report = marker
            plan.model_patches[job.spec.aggregation_worker.model.name] = {
                "metrics": _metrics_list(model_report.results[0].get("metrics")),
                "updateTime": iso(obs.now),
            }

    active = sum(
        1
        for w in obs.workers
        if not w.deleting and w.phase in ("Pending", "Running") and w.name not in plan.delete_workers
    )
    # Sedna's counter: the job's pods in phase Succeeded (a trainer still running when the
    # grace after the aggregator's success ends is deleted, not counted).
    succeeded = sum(1 for w in obs.workers if w.phase == "Succeeded")
    for name, value in (("active", active), ("succeeded", succeeded), ("failed", failures)):
        # Written once even when 0, so `kubectl get fl` shows 0 rather than <none>.
        if name not in status.model_fields_set or getattr(status, name) != value:
            patch[name] = value
    if job.metadata.generation is not None and status.observed_generation != job.metadata.generation:
        patch["observedGeneration"] = job.metadata.generation
    state.failures = failures
    # backoff.pop(...) above is written as a deletion: the patch is a diff (see .state)
    if state_patch := state.patch(job):
        patch["controllerState"] = state_patch
    plan.status_patch = patch
    return plan


def cleanup(obs: Observation) -> Plan:
    """Delete every worker and the aggregation Service."""
    return cleanup_plan(obs, [aggregation_service_name(obs.resource)])
