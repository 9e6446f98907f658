"""Which watch events make the operator reconcile (pure parts of handlers/engine/children).

The operator on a real API server is covered by the other tests in this package; here the
filters themselves: a child event reaches the owner only when it changes what the reconciler
sees, an own write is recognised by its essence, and the in-memory pass after an own status
write asks for a real reconcile only when the reconciler would take another step.
"""

from __future__ import annotations

import copy
from typing import Any

import kopf
import pytest

from sedna_operator.controllers.plan import Plan, ServicePlan, WorkerPlan
from sedna_operator.runtime.kubernetes.children import ChildEvents
from sedna_operator.runtime.kubernetes.engine import _more_to_do, essence
from sedna_operator.runtime.kubernetes.handlers import EventsOnlyDiffBase, _refuse_change_handlers

KIND = "JointInferenceService"


def _deployment(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "ji-deployment-edge",
            "namespace": "ns",
            "uid": "d-1",
            "resourceVersion": "1",
            "labels": {"jointinferenceservice.sedna.io/worker-type": "edge"},
        },
        "spec": {"replicas": 1},
        "status": dict(status),
    }


def _pod(phase: str = "Pending") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ji-edge-x", "namespace": "ns", "uid": "p-1", "resourceVersion": "1"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase},
    }


def test_a_deployment_rollout_bookkeeping_does_not_reach_the_owner() -> None:
    events = ChildEvents()
    assert events.matters("deployments", KIND, _deployment(), "ADDED")  # first sighting
    # The Deployment controller rewrites status while it rolls out: not in the Observation.
    busy = _deployment(observedGeneration=1, updatedReplicas=1, unavailableReplicas=1)
    busy["metadata"]["resourceVersion"] = "2"
    assert not events.matters("deployments", KIND, busy, "MODIFIED")
    # A replica becoming available is (status.active follows it).
    assert events.matters("deployments", KIND, _deployment(availableReplicas=1), "MODIFIED")
    assert not events.matters("deployments", KIND, _deployment(availableReplicas=1), "MODIFIED")
    assert events.matters("deployments", KIND, _deployment(availableReplicas=1), "DELETED")
    assert len(events) == 0


def test_a_pod_phase_change_reaches_the_owner_and_a_no_op_update_does_not() -> None:
    events = ChildEvents()
    assert events.matters("pods", KIND, _pod(), None)  # initial listing
    same = _pod()
    same["metadata"]["resourceVersion"] = "7"
    assert not events.matters("pods", KIND, same, "MODIFIED")
    assert events.matters("pods", KIND, _pod("Running"), "MODIFIED")


def test_services_matter_only_when_deleted() -> None:
    events = ChildEvents()
    svc = {"metadata": {"name": "ji-cloud", "namespace": "ns", "uid": "s-1"}, "spec": {}}
    assert not events.matters("services", KIND, svc, "ADDED")
    assert not events.matters("services", KIND, svc, "MODIFIED")
    assert events.matters("services", KIND, svc, "DELETED")


def test_essence_ignores_what_every_write_changes_and_sees_the_rest() -> None:
    body: dict[str, Any] = {
        "metadata": {"name": "a", "resourceVersion": "1", "managedFields": [{"x": 1}]},
        "spec": {"a": 1},
    }
    moved = copy.deepcopy(body)
    moved["metadata"].update(resourceVersion="2", managedFields=[{"x": 2}])
    assert essence(moved) == essence(body)
    reported = copy.deepcopy(body)
    reported["status"] = {"reports": {"w": {"kind": "train"}}}
    assert essence(reported) != essence(body)
    edited = copy.deepcopy(body)
    edited["spec"]["a"] = 2
    assert essence(edited) != essence(body)


def _worker(name: str) -> WorkerPlan:
    return WorkerPlan(name=name, role="edge", pod={"metadata": {"name": name}}, template_hash="h")


def test_after_an_own_write_only_a_further_step_needs_a_real_reconcile() -> None:
    first = Plan(
        create_workers=[_worker("w-1")],
        services=[ServicePlan(name="svc", service={"metadata": {"name": "svc"}})],
        status_patch={"phase": "Running"},
    )
    written = {"phase": "Running"}
    # The same plan again (children as observed before the write): nothing new.
    assert not _more_to_do(
        first, first.model_copy(update={"status_patch": {"phase": "Running"}}), written, frozenset()
    )
    # The state machine moves on: status would change again.
    assert _more_to_do(first, Plan(status_patch={"phase": "Succeeded"}), written, frozenset())
    # A worker not created yet, or a deletion, needs the real reconcile too.
    assert _more_to_do(first, Plan(create_workers=[_worker("w-2")]), written, frozenset())
    assert not _more_to_do(first, Plan(create_workers=[_worker("w-0")]), written, frozenset({"w-0"}))
    assert _more_to_do(first, Plan(delete_workers=["w-1"]), written, frozenset())
    assert _more_to_do(first, Plan(delete_self=True), written, frozenset())


def test_no_diff_base_is_built_and_change_handlers_are_refused() -> None:
    """kopf's diff base (a deep copy per watch event) serves only change handlers and daemons;
    the operator keeps none, and refuses a registry that would need one."""
    storage = EventsOnlyDiffBase(prefix="sedna.io", key="last-handled-configuration", v1=False)
    assert storage.build(body=kopf.Body(_deployment())) == {}
    registry = kopf.OperatorRegistry()
    kopf.on.event("v1", "pods", registry=registry)(lambda **_: None)
    _refuse_change_handlers(registry)  # event handlers only: fine
    kopf.on.create("v1", "pods", registry=registry)(lambda **_: None)
    with pytest.raises(RuntimeError, match="diff base"):
        _refuse_change_handlers(registry)
