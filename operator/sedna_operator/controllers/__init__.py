"""Pure reconcilers, one module per kind, and the Plan contract they share.

Which kind runs which reconciler is :mod:`sedna_operator.core.registry` (the one registry both
runtimes use); :func:`reconcile` and :func:`cleanup` dispatch through it.
"""

from __future__ import annotations

from .plan import Observation, Plan

__all__ = ["reconcile", "cleanup"]


def reconcile(obs: Observation) -> Plan:
    """Reconcile any sedna.io resource."""
    from ..core.registry import CONTROLLERS  # the registry imports the reconcilers

    return CONTROLLERS[obs.resource.kind].reconcile(obs)


def cleanup(obs: Observation) -> Plan:
    """The plan that removes everything the resource owns."""
    from ..core.registry import CONTROLLERS

    controller = CONTROLLERS[obs.resource.kind]
    return controller.cleanup(obs) if controller.cleanup is not None else Plan(finished=True)
