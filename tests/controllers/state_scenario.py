"""Scenarios of ``status.controllerState`` run through a runtime's own status write.

Each takes ``write(obj, plan) -> obj``: how a runtime applies a plan's status patch and what the
resource reads afterwards (the test helper's merge, the local store, the API server), so the
same scenario proves the state contract on every apply path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sedna_operator.controllers.cycle import REPORT_GRACE_SECONDS
from sedna_operator.controllers.plan import Plan

from .helpers import last_condition
from .test_incrementallearning import Sim, job

Write = Callable[[dict[str, Any], Plan], dict[str, Any]]


class WrittenSim(Sim):
    """The IL table-test runtime, with the status written by ``write``."""

    def __init__(self, obj: dict[str, Any], write: Write, **kw: Any) -> None:
        super().__init__(obj, **kw)
        self.write = write

    def step(self) -> Plan:
        before = self.obj
        plan = super().step()  # reconciles and applies with the helper's merge ...
        self.obj = self.write(before, plan)  # ... which the runtime's own write replaces
        return plan


def stale_succeeded_seen(write: Write, obj: dict[str, Any] | None = None) -> WrittenSim:
    """A train worker that succeeded without its report waits the report grace, and then the
    eval worker of the same round must wait the grace again: the time the train worker was
    first seen succeeded is removed from the state when the train stage completes.

    (Today's main popped ``succeededSeen`` from a state both runtimes merge: the key stayed,
    and the eval stage completed at once, without waiting for the eval report.)
    """
    sim = WrittenSim(obj or job(), write, samples=1000)
    sim.until("Starting", "Train")
    train = sim.role("train")
    sim.workers[train.name] = train.model_copy(update={"phase": "Succeeded"})
    sim.step()
    assert last_condition(sim.obj) in (("Starting", "Train"), ("Running", "Train"))
    assert "succeededSeen" in sim.state
    sim.now += timedelta(seconds=REPORT_GRACE_SECONDS + 1)
    sim.until("Starting", "Eval")
    assert "succeededSeen" not in sim.state, "a completed stage leaves no succeededSeen behind"
    evaluator = sim.role("eval")
    sim.workers[evaluator.name] = evaluator.model_copy(update={"phase": "Succeeded"})
    sim.step()
    assert last_condition(sim.obj) in (("Starting", "Eval"), ("Running", "Eval")), (
        "the eval worker waits the report grace"
    )
    assert sim.state["succeededSeen"] == sim.now.isoformat().replace("+00:00", "Z")
    return sim
