"""A tiny evaluator for the JSONPath forms used by the CRDs' printer columns.

Supported: ``.a.b``, ``.a[0]``, ``.a[-1:]`` (slices), ``.a[?(@.key=="x")]`` (equality filter)
and ``.a.b`` after any of those. That covers every column in :data:`sedna_operator.api.KINDS`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ...core.times import parse_time

__all__ = ["evaluate", "render_value", "age"]

_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z_][\w-]*)
      |\[\?\(@\.(?P<fkey>[\w-]+)\s*==\s*["'](?P<fval>[^"']*)["']\)\]
      |\[(?P<start>-?\d*):(?P<stop>-?\d*)\]
      |\[(?P<index>-?\d+)\]""",
    re.X,
)


def _tokens(path: str) -> list[re.Match[str]]:
    out, pos = [], 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match:
            raise ValueError(f"unsupported JSONPath {path!r} at {path[pos:]!r}")
        out.append(match)
        pos = match.end()
    return out


def evaluate(obj: Any, path: str) -> list[Any]:
    """All values ``path`` selects in ``obj`` (empty when nothing matches)."""
    current: list[Any] = [obj]
    for tok in _tokens(path):
        nxt: list[Any] = []
        for item in current:
            if tok.group("field") is not None:
                if isinstance(item, dict) and tok.group("field") in item:
                    nxt.append(item[tok.group("field")])
            elif tok.group("fkey") is not None:
                if isinstance(item, list):
                    key, val = tok.group("fkey"), tok.group("fval")
                    nxt.extend(e for e in item if isinstance(e, dict) and str(e.get(key)) == val)
            elif tok.group("index") is not None:
                if isinstance(item, list):
                    i = int(tok.group("index"))
                    if -len(item) <= i < len(item):
                        nxt.append(item[i])
            elif isinstance(item, list):
                start = int(tok.group("start")) if tok.group("start") else None
                stop = int(tok.group("stop")) if tok.group("stop") else None
                nxt.extend(item[start:stop])
        current = nxt
    return current


def age(timestamp: str | datetime | None, now: datetime | None = None) -> str:
    """kubectl-style age: ``45s``, ``3m``, ``2h``, ``4d``."""
    if not timestamp:
        return "<unknown>"
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def render_value(values: list[Any], type_: str, now: datetime | None = None) -> str:
    """A printer column cell: ``date`` columns as ages, others as text (``<none>`` when absent)."""
    if not values:
        return "<none>"
    if type_ == "date":
        return age(values[0], now)
    return ",".join(str(v) for v in values)
