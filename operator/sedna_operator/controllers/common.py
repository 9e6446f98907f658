"""Helpers shared by the reconcilers: conditions, events and worker slots.

Durable state (``status.controllerState``) is typed per kind in :mod:`.state` and written as
explicit deletions: both runtimes apply ``Plan.status_patch`` as an RFC 7386 merge, so a
reconciler writes the diff of the state (``ControllerState.patch``), never the state whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ..api import Resource
from ..core.times import iso, parse_time
from .mounts import MountSet
from .plan import EventPlan, Observation, ObservedWorker, Plan, WorkerPlan
from .workers import WORKER_KEY_LABEL, observed_hash

__all__ = [
    "MAX_CONDITIONS",
    "iso",
    "parse_time",
    "status_dict",
    "conditions_of",
    "last_condition",
    "append_condition",
    "event",
    "mount_set",
    "owned",
    "worker_key",
    "Slot",
    "sync_slot",
    "cleanup_plan",
    "spec_changed",
    "model_url",
    "typed",
]

R = TypeVar("R", bound=Resource[Any, Any])


def typed(resource: Resource[Any, Any], cls: type[R]) -> R:
    """``resource`` narrowed to its kind's class (Observation keeps the caller's object), or a
    TypeError naming both kinds when a runtime hands a reconciler the wrong resource."""
    if not isinstance(resource, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(resource).__name__} {resource.kind}")
    return resource

# Conditions are appended on every state change; IL/LL cycle forever, so keep the newest ones.
MAX_CONDITIONS = 100


def status_dict(resource: Resource[Any, Any]) -> dict[str, Any]:
    """The resource's status on the wire (camelCase)."""
    return dict(resource.status.to_wire())


def conditions_of(resource: Resource[Any, Any]) -> list[dict[str, Any]]:
    return [c for c in status_dict(resource).get("conditions", [])]


def last_condition(conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    return conditions[-1] if conditions else None


def append_condition(conditions: list[dict[str, Any]], condition: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """A new list with ``condition`` appended (times stamped), capped to :data:`MAX_CONDITIONS`."""
    stamped = {"status": "True", **condition}
    stamped.setdefault("lastHeartbeatTime", iso(now))
    stamped.setdefault("lastTransitionTime", iso(now))
    return [*conditions, stamped][-MAX_CONDITIONS:]


def event(plan: Plan, reason: str, message: str, *, warning: bool = False) -> None:
    plan.events.append(EventPlan(type="Warning" if warning else "Normal", reason=reason, message=message))


def mount_set(obs: Observation) -> MountSet:
    return MountSet(
        credentials=dict(obs.secrets),
        inline_credentials=obs.inline_credentials,
        initializer_image=obs.storage_initializer_image,
    )


def owned(obs: Observation) -> list[ObservedWorker]:
    """Workers not already being deleted."""
    return [w for w in obs.workers if not w.deleting]


def worker_key(worker: ObservedWorker) -> str:
    """The slot a worker fills (label ``sedna.io/worker-key``, else its role)."""
    return worker.labels.get(WORKER_KEY_LABEL) or worker.role


def spec_changed(resource: Resource[Any, Any]) -> bool:
    """metadata.generation differs from status.observedGeneration."""
    observed = getattr(resource.status, "observed_generation", None)
    return resource.metadata.generation is not None and observed != resource.metadata.generation


def model_url(obs: Observation, name: str | None) -> str | None:
    if not name:
        return None
    model = obs.models.get(name)
    return model.url if model else None


@dataclass
class Slot:
    """One worker that must exist: ``build(attempt)`` makes its plan for an attempt number."""

    key: str
    build: Callable[[int], WorkerPlan]
    template_hash: str


def sync_slot(
    obs: Observation,
    plan: Plan,
    attempts: dict[str, int],
    slot: Slot,
    *,
    replace_failed: bool = True,
    what: str = "worker",
) -> ObservedWorker | None:
    """Make the slot's worker exist and be current; returns the observed worker if there is one.

    - workers of the slot from older attempts are deleted;
    - a missing worker is (re)created under the same name (idempotent), unless that name is
      still terminating (then the caller requeues: the returned worker is ``None``);
    - a Failed worker is deleted and replaced by the next attempt (when ``replace_failed``);
    - a worker made from an older template/spec is deleted and replaced by the next attempt.
    """
    attempt = attempts.get(slot.key, 0)
    desired = slot.build(attempt)
    mine = [w for w in obs.workers if worker_key(w) == slot.key]
    for w in mine:
        if w.name != desired.name and not w.deleting:
            plan.delete_workers.append(w.name)
    current = next((w for w in mine if w.name == desired.name), None)
    if current is None:
        plan.create_workers.append(desired)
        return None
    if current.deleting:
        plan.requeue_after = min(plan.requeue_after or 5.0, 5.0)
        return None
    stale = observed_hash(current) not in (None, slot.template_hash)
    failed = current.phase == "Failed" and replace_failed
    if stale or failed:
        attempts[slot.key] = attempt + 1
        plan.delete_workers.append(current.name)
        plan.create_workers.append(slot.build(attempt + 1))
        if stale:
            event(plan, "WorkerUpdated", f"{what} {current.name} rolled: its template or spec changed")
        else:
            event(plan, "WorkerReplaced", f"{what} {current.name} failed; replaced", warning=True)
        return None
    return current


def cleanup_plan(obs: Observation, services: Iterable[str] = ()) -> Plan:
    """Delete every owned worker and the given services (runtimes without garbage collection)."""
    return Plan(
        delete_workers=[w.name for w in obs.workers if not w.deleting],
        delete_services=list(services),
        finished=True,
    )
