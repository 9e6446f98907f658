"""The ``Ready`` condition of services and jobs that serve (JI's big model, FL's aggregator).

Sedna's conditions are a history: one is appended per state change and the newest one is the
state (``kubectl get`` shows ``conditions[-1:].type``). Readiness is not a state change but a
property that comes and goes, so it is kept the Kubernetes way instead: one condition of type
``Ready`` whose status is ``True`` or ``False``, updated in place and kept first in the list, so
the newest entry stays the state and ``kubectl wait --for=condition=Ready`` works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .common import MAX_CONDITIONS, event, iso
from .plan import Plan

__all__ = ["READY", "Readiness", "split_ready", "with_ready", "flip_event"]

READY = "Ready"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    message: str
    finished: bool = False  # not ready because the work is done


def split_ready(
    conditions: list[dict[str, Any]], kind: str = READY
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``(the Ready condition, or the pinned condition of type kind, or None; the rest)``."""
    ready = next((c for c in conditions if c.get("type") == kind), None)
    return ready, [c for c in conditions if c.get("type") != kind]


def with_ready(
    history: list[dict[str, Any]],
    current: dict[str, Any] | None,
    want: Readiness,
    now: datetime,
    kind: str = READY,
) -> list[dict[str, Any]]:
    """``history`` led by the Ready condition ``want`` describes (or another pinned condition,
    ``kind``: lifecycle's ``Suspended`` is kept the same way). An unchanged condition is kept
    as it was (no write on every pass); ``lastTransitionTime`` moves only when the status flips."""
    status = "True" if want.ready else "False"
    if current is not None and (current.get("status"), current.get("reason"), current.get("message")) == (
        status,
        want.reason,
        want.message,
    ):
        condition = current
    else:
        flipped = current is None or current.get("status") != status
        condition = {
            "type": kind,
            "status": status,
            "reason": want.reason,
            "message": want.message,
            "lastHeartbeatTime": iso(now),
            "lastTransitionTime": iso(now) if flipped else current.get("lastTransitionTime", iso(now)),  # type: ignore[union-attr]
        }
    return [condition, *history[-(MAX_CONDITIONS - 1) :]]


def flip_event(plan: Plan, current: dict[str, Any] | None, want: Readiness) -> None:
    """An event when readiness flips (a warning when it is lost), none on the first pass and
    none when the work is done (the Completed or Failed event says so)."""
    if current is not None and not want.finished and (current.get("status") == "True") != want.ready:
        event(plan, want.reason, want.message, warning=not want.ready)
