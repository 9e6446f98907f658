"""JointInferenceService: a cloud worker (big model, Service ``<svc>-cloud:5000``) and an edge worker.

As in Sedna, each worker is a Deployment ``<svc>-deployment-<cloud|edge>`` where the runtime has
Deployments (``Observation.deployments`` is not None), with the worker's ``hpa`` applied as an
autoscaling/v2 HPA ``hpa-<svc>-deployment-<role>``. The local runtime has none, so there each
worker is one pod/process and ``hpa`` does nothing.

Differences from Sedna (see docs/reconcilers.md): a worker whose template asks for
``restartPolicy: OnFailure|Never`` (a worker meant to finish) stays a bare pod, since a
Deployment's pods must restart Always; a failed or deleted worker is replaced instead of the
service failing for good; a spec edit rolls only the worker whose template or inputs changed;
workers get ``JOB_NAME=<svc>`` as well as ``SERVICE_NAME`` so their reports carry the right
owner. Additive: the big model gets a TCP readiness probe, a ``Ready`` condition follows both
workers, and ``status.cloudServiceURL`` says where the big model answers.
"""

from __future__ import annotations

import json
from typing import Any

from ..api import JointInferenceService, Resource
from ..api.joint_inference import HPA
from .common import (
    Slot,
    append_condition,
    cleanup_plan,
    conditions_of,
    event,
    iso,
    last_condition,
    model_url,
    mount_set,
    spec_changed,
    sync_slot,
    typed,
)
from .plan import Observation, ObservedWorker, Plan, WorkerReport
from .readiness import Readiness, flip_event, split_ready, with_ready
from .state import JointInferenceState
from .workers import (
    WORKER_KEY_LABEL,
    PodExtras,
    as_deployment,
    autoscaler_name,
    build_autoscaler,
    build_service,
    build_worker,
    deployment_name,
    env,
    observed_hash,
    runs_as_deployment,
    spec_hash,
)

__all__ = [
    "BIG_MODEL_PORT",
    "ROLES",
    "reconcile",
    "cleanup",
    "cloud_service_name",
    "cloud_service_url",
    "hem_parameters_json",
    "readiness",
]

BIG_MODEL_PORT = 5000
ROLES = ("cloud", "edge")
_METRIC_SKIP = ("startTime", "updateTime")


def cloud_service_name(svc: Resource[Any, Any]) -> str:
    return f"{svc.name}-cloud".lower()


def cloud_service_url(svc: Resource[Any, Any]) -> str:
    """The big model's in-cluster URL, as the edge worker reaches it (``BIG_MODEL_IP``/``_PORT``)."""
    return f"http://{cloud_service_name(svc)}.{svc.namespace}:{BIG_MODEL_PORT}"


def hem_parameters_json(parameters: list[Any] | None) -> str:
    """``HEM_PARAMETERS``: a JSON list of ``{"key", "value"}`` (strings), as Sedna marshals it."""
    return json.dumps([{"key": p.key, "value": p.value} for p in parameters or []], separators=(",", ":"))


def _slot(obs: Observation, svc: JointInferenceService, role: str) -> Slot | None:
    worker = svc.spec.cloud_worker if role == "cloud" else svc.spec.edge_worker
    url = model_url(obs, worker.model.name)
    if url is None:
        return None
    model = obs.models[worker.model.name]
    common = [env("NAMESPACE", svc.namespace), env("SERVICE_NAME", svc.name), env("JOB_NAME", svc.name)]
    if role == "cloud":
        role_env = [env("BIG_MODEL_BIND_PORT", BIG_MODEL_PORT)]
        inputs: dict[str, Any] = {"model": url}
    else:
        hem = svc.spec.edge_worker.hard_example_mining
        role_env = [
            env("BIG_MODEL_IP", f"{cloud_service_name(svc)}.{svc.namespace}"),
            env("BIG_MODEL_PORT", BIG_MODEL_PORT),
            env("HEM_NAME", hem.name),
            env("HEM_PARAMETERS", hem_parameters_json(hem.parameters)),
        ]
        inputs = {"model": url, "hem": hem.to_wire()}
    inputs["credential"] = model.credential_name
    template_hash = spec_hash(worker.template, inputs)

    def build(attempt: int) -> Any:
        mounts = mount_set(obs)
        mounts.add("MODEL_URL", url, credential_name=model.credential_name)
        extras = PodExtras(
            env=[*common, *role_env],
            labels={WORKER_KEY_LABEL: role},
            readiness_port=BIG_MODEL_PORT if role == "cloud" else None,
        )
        extras.extend(mounts.extras())
        return build_worker(
            svc, role=role, template=worker.template, attempt=f"{role}.{attempt}", extras=extras,
            lc_server=obs.lc_server, template_hash=template_hash,
        )

    return Slot(role, build, template_hash)


def _edge_report(obs: Observation, svc: Resource[Any, Any]) -> WorkerReport | None:
    edge_names = {w.name for w in obs.workers if w.role == "edge"}
    # Reports of edge pods that are gone count too: bare workers and a Deployment's pods.
    prefixes = (f"{svc.name}-edge-", f"{deployment_name(svc, 'edge')}-")
    candidates = [r for name, r in obs.reports.items() if name in edge_names or name.startswith(prefixes)]
    return max(candidates, key=lambda r: (r.received_at, r.sequence), default=None)


def metrics_from(report: WorkerReport | None) -> list[dict[str, str]] | None:
    """Sedna's status.metrics: the report's ownerInfo minus start/update time, values as strings."""
    if report is None or not report.owner_info:
        return None
    out = []
    for key, value in sorted(report.owner_info.items()):
        if key in _METRIC_SKIP:
            continue
        out.append({"key": key, "value": value if isinstance(value, str) else json.dumps(value)})
    return out


def readiness(running: dict[str, ObservedWorker | None]) -> Readiness:
    """Ready when the big model accepts connections and the edge worker runs."""
    cloud, edge = running.get("cloud"), running.get("edge")
    if cloud is None or not cloud.serving:
        why = "not running" if cloud is None or cloud.phase != "Running" else "not accepting connections yet"
        return Readiness(False, "CloudWorkerNotReady", f"the big-model service is {why}")
    if edge is None or edge.phase != "Running":
        return Readiness(False, "EdgeWorkerNotReady", "the edge worker is not running")
    if not edge.serving:
        return Readiness(False, "EdgeWorkerNotReady", "the edge worker runs but is not Ready (is its node reachable?)")
    return Readiness(True, "WorkersReady", "the big-model service answers and the edge worker runs")


def reconcile(obs: Observation) -> Plan:
    """Keep both workers and the cloud Service running; report health and edge metrics."""
    svc = typed(obs.resource, JointInferenceService)
    plan = Plan()
    if svc.metadata.deletion_timestamp is not None:
        return plan
    state = JointInferenceState.of(svc)
    attempts = state.attempts
    patch: dict[str, Any] = {}
    if svc.status.start_time is None:
        patch["startTime"] = iso(obs.now)

    plan.services.append(build_service(svc, "cloud", BIG_MODEL_PORT))
    running: dict[str, ObservedWorker | None] = {}
    failed = active = 0
    missing_models = []
    for role in ROLES:
        worker = svc.spec.cloud_worker if role == "cloud" else svc.spec.edge_worker
        slot = _slot(obs, svc, role)
        if slot is None:
            missing_models.append(worker.model.name)
            running[role] = None
            continue
        if obs.deployments is not None and runs_as_deployment(worker.template):
            running[role], role_failed, role_active = _sync_deployment(obs, plan, svc, role, slot, worker.hpa)
            failed += role_failed
            active += role_active
            continue
        _drop_deployment(obs, plan, svc, role, worker.hpa)
        before = next((w for w in obs.workers if w.role == role and not w.deleting and w.phase == "Failed"), None)
        if before is not None:
            failed += 1
        seen = running[role] = sync_slot(obs, plan, attempts, slot, what=f"{role} worker")
        active += 1 if seen is not None and seen.phase == "Running" else 0

    all_running = all(w is not None and w.phase == "Running" for w in running.values())
    ready_condition, conditions = split_ready(conditions_of(svc))
    last = last_condition(conditions)
    if failed:
        ctype, reason, message = "Failed", "workerFailed", "the worker of service failed; it is being replaced"
    elif all_running:
        ctype, reason, message = "Running", "workersRunning", "the cloud and edge workers are running"
    elif missing_models:
        ctype, reason, message = "Pending", "modelNotFound", f"waiting for Model(s) {', '.join(missing_models)}"
    else:
        ctype, reason, message = "Pending", "workersStarting", "waiting for the workers to run"
    if last is None or last.get("type") != ctype:
        conditions = append_condition(conditions, {"type": ctype, "reason": reason, "message": message}, obs.now)
        event(plan, reason, message, warning=ctype == "Failed")
    ready = readiness(running)
    conditions = with_ready(conditions, ready_condition, ready, obs.now)
    if conditions != conditions_of(svc):
        patch["conditions"] = conditions
    flip_event(plan, ready_condition, ready)
    if svc.status.cloud_service_url != cloud_service_url(svc):
        patch["cloudServiceURL"] = cloud_service_url(svc)
    # Counters are written once even when 0, so `kubectl get ji` never shows <none>.
    for name, value in (("active", active), ("failed", failed)):
        if name not in svc.status.model_fields_set or getattr(svc.status, name) != value:
            patch[name] = value
    metrics = metrics_from(_edge_report(obs, svc))
    current = [m.to_wire() for m in svc.status.metrics] if svc.status.metrics else None
    if metrics is not None and metrics != current:
        patch["metrics"] = metrics
    if svc.metadata.generation is not None and svc.status.observed_generation != svc.metadata.generation:
        patch["observedGeneration"] = svc.metadata.generation
    if state_patch := state.patch(svc):
        patch["controllerState"] = state_patch
    plan.status_patch = patch
    # Where pod changes are watched (the operator), the next one brings the reconcile; a timed look
    # would only add load while a cluster is busy starting pods. A runtime that cannot watch them
    # (the local one probes the port for readiness) looks again soon.
    if not all_running and not obs.children_watched:
        plan.requeue_after = min(plan.requeue_after or 10.0, 10.0)
    elif not ready.ready and not obs.children_watched:
        plan.requeue_after = min(plan.requeue_after or 3.0, 3.0)
    return plan


def _sync_deployment(
    obs: Observation, plan: Plan, svc: JointInferenceService, role: str, slot: Slot, hpa: HPA | None
) -> tuple[ObservedWorker | None, int, int]:
    """Keep the role's Deployment (and HPA) as the spec says; returns (the pod that stands for
    the worker, pods failed, replicas available).

    The Deployment is written only when it is missing, made from an older template (the
    Deployment then rolls its pods), or has a replica count it must not have: other than 1
    without an HPA (Sedna's default), below ``minReplicas`` with one. Above that floor the
    count is the HPA's to change, so the two never fight over it.
    """
    name = deployment_name(svc, role)
    observed = (obs.deployments or {}).get(name)
    pods = [w for w in obs.workers if w.workload == name]
    # Bare pods of this role (from a runtime or an operator version without Deployments) go.
    plan.delete_workers.extend(w.name for w in obs.workers if w.role == role and w.workload is None and not w.deleting)
    _sync_autoscaler(obs, plan, svc, role, hpa)
    if observed is not None and observed.deleting:
        plan.requeue_after = min(plan.requeue_after or 5.0, 5.0)
        return None, 0, 0
    floor = (hpa.min_replicas or 1) if hpa is not None else 1
    hpa_owns = hpa is not None and observed is not None and (observed.replicas or 0) >= floor
    stale = observed is not None and observed.template_hash != slot.template_hash
    if observed is None or stale or (not hpa_owns and observed.replicas != floor):
        worker = as_deployment(svc, slot.build(0), replicas=floor, replicas_owned_by_hpa=hpa_owns)
        plan.create_workers.append(worker)
        if stale:
            event(plan, "WorkerUpdated", f"{role} worker Deployment {name} rolled: its template or spec changed")
    failed = [w for w in pods if w.phase == "Failed" and not w.deleting]
    for w in failed:  # the ReplicaSet has started another already; the failed pod only lingers
        plan.delete_workers.append(w.name)
        event(plan, "WorkerReplaced", f"{role} worker {w.name} failed; replaced", warning=True)
    live = [w for w in pods if not w.deleting and w.phase != "Failed"]
    current = [w for w in live if observed_hash(w) == slot.template_hash] or live
    best = max(current, key=lambda w: (w.serving, w.phase == "Running"), default=None)
    return best, len(failed), observed.available if observed is not None else 0


def _sync_autoscaler(obs: Observation, plan: Plan, svc: JointInferenceService, role: str, hpa: HPA | None) -> None:
    """Create or replace the role's HPA when ``hpa`` is set or edited; delete it when removed."""
    name = autoscaler_name(svc, role)
    if hpa is None:
        if name in obs.autoscalers:
            plan.delete_autoscalers.append(name)
            event(plan, "AutoscalerRemoved", f"{role} worker: hpa removed, {name} deleted")
        return
    autoscaler, digest = build_autoscaler(svc, role, hpa.to_wire())
    if obs.autoscalers.get(name, "") != digest:
        plan.autoscalers.append(autoscaler)
        verb = "updated" if name in obs.autoscalers else "created"
        event(plan, "AutoscalerApplied", f"{role} worker: {name} {verb}")


def _drop_deployment(obs: Observation, plan: Plan, svc: JointInferenceService, role: str, hpa: HPA | None) -> None:
    """A worker run as a bare pod has no Deployment or HPA: remove what an earlier spec made."""
    if obs.deployments is None:
        return
    name = deployment_name(svc, role)
    if name in obs.deployments and not obs.deployments[name].deleting:
        plan.delete_deployments.append(name)
    if autoscaler_name(svc, role) in obs.autoscalers:
        plan.delete_autoscalers.append(autoscaler_name(svc, role))
    if hpa is not None and spec_changed(svc):  # said once per spec edit, not on every pass
        event(plan, "AutoscalerIgnored", f"{role} worker: hpa needs a Deployment, and its restartPolicy "
              "(OnFailure/Never) makes it a bare pod", warning=True)


def cleanup(obs: Observation) -> Plan:
    """Delete both workers (pods, Deployments, HPAs) and the cloud Service."""
    plan = cleanup_plan(obs, [cloud_service_name(obs.resource)])
    plan.delete_deployments = [n for n, d in (obs.deployments or {}).items() if not d.deleting]
    plan.delete_autoscalers = list(obs.autoscalers)
    return plan
