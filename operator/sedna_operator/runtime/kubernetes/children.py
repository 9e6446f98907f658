"""Which watch events of a resource's children can change its reconcile.

A reconcile reads every child afresh, so an event matters only if it changes what the
reconciler sees of that child. A Deployment's status is rewritten by its controller several
times while it rolls out (``observedGeneration``, ``updatedReplicas``, conditions); a pod's
status gains timestamps; none of that is in the Observation. :class:`ChildEvents` keeps, per
child, the view the reconciler takes of it (the very functions :func:`~.observe.observe`
uses) and lets an event through only when that view changed, when the child is seen for the
first time, or when it is deleted. Services are not in the Observation at all: only their
deletion matters (the next reconcile creates them again).

Losing this memory is harmless: it only means one more reconcile (an operator restart
re-lists everything and reconciles each resource anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...core.observation import TEMPLATE_HASH_ANNOTATION, observed_deployment, observed_worker

__all__ = ["ChildEvents", "child_view"]


def child_view(plural: str, kind: str, body: Mapping[str, Any]) -> object:
    """What the reconciler of ``kind`` sees of the child ``body`` (comparable with ``==``)."""
    obj = dict(body)
    if plural == "pods":
        return observed_worker(obj, kind)
    if plural == "deployments":
        return observed_deployment(obj, kind)
    if plural == "horizontalpodautoscalers":
        meta = obj.get("metadata") or {}
        return (
            bool(meta.get("deletionTimestamp")),
            (meta.get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION),
        )
    return None


class ChildEvents:
    """The last view of each child seen; :meth:`matters` filters the watch events."""

    def __init__(self) -> None:
        self._views: dict[tuple[str, str, str, str], object] = {}

    def matters(self, plural: str, kind: str, body: Mapping[str, Any], event_type: str | None) -> bool:
        """Whether this event can change the owner's reconcile (and remember what it showed)."""
        meta = body.get("metadata") or {}
        key = (plural, str(meta.get("namespace")), str(meta.get("name")), str(meta.get("uid")))
        if event_type == "DELETED":
            self._views.pop(key, None)
            return True
        if plural == "services":  # not observed: only a deleted Service needs the reconciler
            return False
        view = child_view(plural, kind, body)
        if key in self._views and self._views[key] == view:
            return False
        self._views[key] = view
        return True

    def __len__(self) -> int:
        return len(self._views)
