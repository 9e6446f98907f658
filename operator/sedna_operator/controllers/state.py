"""Typed ``status.controllerState``: the progress a reconciler keeps between reconciles, one
pydantic model per kind, and how it is written back.

How it is written (the one rule, for both runtimes): **explicit deletions**. Both runtimes
apply ``Plan.status_patch`` as an RFC 7386 merge patch (:func:`sedna_operator.core.merge.merge_patch`),
so a reconciler never writes the state whole: :meth:`ControllerState.patch` diffs the state it
read against the state it ends with, and every key it dropped (a field set back to ``None`` or
its default, an entry removed from a map) is written as ``null``. A key merely left out of a
patch would survive the merge: that is how a stale ``succeededSeen`` used to skip the report
grace of every round after the first.

Old free-form state of jobs in flight keeps parsing: unknown keys are kept (``extra="allow"``)
and written back unchanged; a known key whose stored value no longer validates is dropped
(its default applies) and deleted on the next write.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from ..api import Resource
from ..core.merge import diff_patch

__all__ = [
    "ControllerState",
    "CycleState",
    "IncrementalState",
    "LifelongState",
    "FederatedState",
    "JointInferenceState",
]

log = logging.getLogger(__name__)


class ControllerState(BaseModel):
    """Base of every kind's state: camelCase on the wire, unknown keys kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    @classmethod
    def of(cls, resource: Resource[Any, Any]) -> Self:
        """The state stored in ``resource``'s status (a fresh object, free to modify)."""
        return cls.from_wire(getattr(resource.status, "controller_state", None) or {})

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Self:
        data = copy.deepcopy(raw) if isinstance(raw, dict) else {}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            log.warning("controllerState: dropping unreadable keys %s", sorted(bad))
            return cls.model_validate({k: v for k, v in data.items() if k not in bad})

    def to_wire(self) -> dict[str, Any]:
        """The JSON form: camelCase, without the fields at their default (None included)."""
        out: dict[str, Any] = self.model_dump(by_alias=True, exclude_defaults=True, mode="json")
        return out

    def patch(self, before: Resource[Any, Any] | dict[str, Any]) -> dict[str, Any]:
        """The merge patch of ``status.controllerState`` that turns the stored state (of the
        resource, or its wire form) into this one; empty when nothing changed."""
        stored = before if isinstance(before, dict) else getattr(before.status, "controller_state", None) or {}
        return diff_patch(stored, self.to_wire())


class CycleState(ControllerState):
    """The train -> eval -> deploy cycle of an incremental or lifelong learning job."""

    attempts: dict[str, int] = Field(default_factory=dict, description="Slot -> attempt number of its worker.")
    baseline: int = Field(default=0, description="Dataset samples already used by earlier rounds.")
    previous_baseline: int | None = Field(default=None, description="The baseline before this round (restored when it fails).")
    last_check: str | None = Field(default=None, description="RFC 3339 time the train trigger was last evaluated.")
    round_data: dict[str, Any] | None = Field(
        default=None, description="The round data files the LC writes: {round, dataset, from, to, trainProb, train, eval}."
    )
    succeeded_seen: str | None = Field(
        default=None, description="RFC 3339 time the current stage worker was first seen Succeeded without its report."
    )
    trained: list[dict[str, Any]] | None = Field(default=None, description="Models the last train stage reported.")
    evaluated: list[dict[str, Any]] | None = Field(default=None, description="Models the last eval stage reported.")
    finished: bool = False
    completed_rounds: int = 0
    deploy: dict[str, Any] | None = Field(default=None, description="The deploy request to the LC (see lc.jobfiles).")


class IncrementalState(CycleState):
    deployed_model: str | None = Field(default=None, description="URL of the model the inference worker serves.")


class LifelongState(CycleState):
    deployed_round: int | None = Field(default=None, description="Round whose knowledge base is deployed.")
    inference_epoch: int | None = Field(default=None, description="Round the inference worker was last started for.")


class FederatedState(ControllerState):
    attempts: dict[str, int] = Field(default_factory=dict)
    restarts: dict[str, int] = Field(default_factory=dict, description="Slot -> failures replaced so far.")
    backoff_until: dict[str, str] = Field(default_factory=dict, description="Slot -> RFC 3339 time its restart waits for.")
    done: list[str] = Field(default_factory=list, description="Slots whose worker succeeded.")
    failures: int = 0
    aggregator_succeeded_at: str | None = None
    model_report: str | None = Field(default=None, description="The aggregator report last written to the Model.")


class JointInferenceState(ControllerState):
    attempts: dict[str, int] = Field(default_factory=dict)
