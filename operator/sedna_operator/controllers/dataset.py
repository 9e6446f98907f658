"""Dataset and Model status: sample counts and update times, from the observation.

Sedna's GM has no reconcile loop for these kinds: the LC's ``{"numberOfSamples": N}`` replaces
the Dataset status (``updateTime`` = now). Here the runtime puts the LC's count in
``Observation.datasets[<name>]`` and this reconciler writes it, touching ``updateTime`` only
when the count changes, so re-running it patches nothing.
"""

from __future__ import annotations

from typing import Any

from ..api import Dataset, Model
from .common import event, iso, typed
from .plan import Observation, Plan

__all__ = ["reconcile", "reconcile_dataset", "reconcile_model", "cleanup"]


def reconcile_dataset(obs: Observation) -> Plan:
    """Write the observed sample count (and when it changed) to the Dataset's status."""
    ds = typed(obs.resource, Dataset)
    plan = Plan()
    seen = obs.datasets.get(ds.name)
    if seen is None:
        return plan
    patch: dict[str, Any] = {}
    if seen.number_of_samples != ds.status.number_of_samples or ds.status.update_time is None:
        patch["numberOfSamples"] = seen.number_of_samples
        patch["updateTime"] = iso(seen.update_time or obs.now)
        if seen.number_of_samples != ds.status.number_of_samples:
            grew = seen.number_of_samples > ds.status.number_of_samples
            event(plan, "SamplesChanged", f"{ds.status.number_of_samples} -> {seen.number_of_samples} samples",
                  warning=not grew)
    plan.status_patch = patch
    return plan


def reconcile_model(obs: Observation) -> Plan:
    """Stamp ``updateTime`` the first time a Model is seen (metrics come from FL model patches)."""
    model = typed(obs.resource, Model)
    plan = Plan()
    if model.status.update_time is None:
        plan.status_patch = {"updateTime": iso(obs.now)}
    return plan


def reconcile(obs: Observation) -> Plan:
    """Dispatch on the kind (Dataset or Model)."""
    if obs.resource.kind == "Dataset":
        return reconcile_dataset(obs)
    if obs.resource.kind == "Model":
        return reconcile_model(obs)
    raise TypeError(f"expected a Dataset or Model, got {obs.resource.kind}")


def cleanup(obs: Observation) -> Plan:
    """Datasets and Models own no workers."""
    return Plan(finished=True)
