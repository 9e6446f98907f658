"""JSON merge patch (RFC 7386): how every ``.status`` patch of a Plan is applied, by both runtimes."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["merge_patch", "diff_patch"]


def merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with ``patch`` applied; neither argument is modified.

    Objects merge key by key, ``None`` removes a key, anything else (lists included) replaces.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def diff_patch(before: Any, after: Any) -> dict[str, Any]:
    """The merge patch that turns object ``before`` into object ``after``: changed keys carry
    their new value (nested objects as their own diff), removed keys an explicit ``None``.

    ``merge_patch(before, diff_patch(before, after)) == after`` for any JSON objects ``after``
    that hold no ``None`` values (RFC 7386 cannot store them). Empty when nothing changed.
    """
    old: dict[str, Any] = before if isinstance(before, dict) else {}
    out: dict[str, Any] = {key: None for key in old if key not in after}
    for key, value in after.items():
        if key not in old:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(old[key], dict):
            if sub := diff_patch(old[key], value):
                out[key] = sub
        elif old[key] != value:
            out[key] = copy.deepcopy(value)
    return out
