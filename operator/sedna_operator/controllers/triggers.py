"""Trigger evaluation of incremental and lifelong learning (Sedna's ``trigger/trigger.go``, fixed).

A trigger fires when its optional daily timer window is open AND its condition holds.

- Operators: every spelling of :data:`api.trigger.OPERATOR_ALIASES`; ``==``/``!=`` use an
  epsilon of 1e-6, like Sedna.
- ``name[i]`` picks element ``i`` of a list metric (negative indices count from the end).
- A list metric **without** an index (Sedna converts it to 0, so ``precision_delta > 0.1``
  never fires on per-class lists): here the condition holds when it holds for **every**
  element, and never for an empty list. For a deploy gate this means "the new model is better
  by the threshold on every class", which never deploys a model that regresses one class.
- ``<m>_delta`` metrics come from (new, old) eval results, element-wise for lists.
- Timer: ``HH:MM`` in the timezone of ``now``; inclusive at both ends at minute precision, like
  Sedna's string comparison; ``start > end`` crosses midnight; ``24:00`` ends a day.
- ``checkPeriodSeconds`` (default 60) is honoured: a trigger is evaluated at most once per
  period, the time of the last evaluation being kept in the job's ``controllerState``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..api import Trigger, TriggerCondition
from ..api.trigger import Timer, minutes_of
from ..core.times import parse_time

__all__ = [
    "EPSILON",
    "DEFAULT_CHECK_PERIOD",
    "compare",
    "metric_values",
    "condition_holds",
    "in_window",
    "seconds_until_open",
    "delta_metrics",
    "check_due",
    "TriggerResult",
    "evaluate",
]

EPSILON = 1e-6
DEFAULT_CHECK_PERIOD = 60
_INDEXED = re.compile(r"^(?P<name>.+)\[(?P<index>-?\d+)\]$")


def compare(value: float, symbol: str, threshold: float) -> bool:
    """``value <symbol> threshold`` with Sedna's 1e-6 epsilon on (in)equality."""
    if symbol == "==":
        return abs(value - threshold) < EPSILON
    if symbol == "!=":
        return abs(value - threshold) >= EPSILON
    if symbol == ">":
        return value > threshold
    if symbol == ">=":
        return value >= threshold
    if symbol == "<":
        return value < threshold
    if symbol == "<=":
        return value <= threshold
    raise ValueError(f"unknown operator {symbol!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if not math.isnan(float(value)) else None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def metric_values(metrics: Mapping[str, Any], metric: str) -> list[float] | None:
    """The values a metric name selects: one for scalars and ``name[i]``, all of a list otherwise.

    ``None`` when the metric is missing, out of range or not numeric.
    """
    match = _INDEXED.match(metric)
    if match and match.group("name") in metrics:
        raw = metrics[match.group("name")]
        if not isinstance(raw, list | tuple):
            return None
        index = int(match.group("index"))
        if not -len(raw) <= index < len(raw):
            return None
        value = _number(raw[index])
        return None if value is None else [value]
    if metric not in metrics:
        return None
    raw = metrics[metric]
    if isinstance(raw, list | tuple):
        values = [_number(v) for v in raw]
        if any(v is None for v in values):
            return None
        return [v for v in values if v is not None]
    value = _number(raw)
    return None if value is None else [value]


def condition_holds(condition: TriggerCondition, metrics: Mapping[str, Any]) -> bool:
    """The condition on ``metrics``: every selected value must satisfy it (none: it does not)."""
    values = metric_values(metrics, condition.metric)
    if not values:
        return False
    return all(compare(v, condition.symbol, condition.threshold) for v in values)


def _minute_of_day(now: datetime) -> int:
    return now.hour * 60 + now.minute


def in_window(timer: Timer | None, now: datetime) -> bool:
    """Whether ``now`` is inside the daily window (no timer: always)."""
    if timer is None:
        return True
    start, end, t = minutes_of(timer.start), minutes_of(timer.end), _minute_of_day(now)
    if start <= end:
        return start <= t <= end
    return t >= start or t <= end


def seconds_until_open(timer: Timer | None, now: datetime) -> float:
    """Seconds until the window next opens (0 when it is open)."""
    if in_window(timer, now) or timer is None:
        return 0.0
    start = minutes_of(timer.start)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    opening = midnight + timedelta(minutes=start)
    if opening <= now:
        opening += timedelta(days=1)
    return max((opening - now).total_seconds(), 1.0)


def delta_metrics(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """Sedna's deploy metrics: each new metric ``m`` and ``m_delta = new - old``.

    Lists are subtracted element-wise (equal lengths only); scalars directly; a metric the old
    model lacks or that is not numeric gets no delta.
    """
    out: dict[str, Any] = {}
    for name, value in new.items():
        out[name] = value
        if name not in old:
            continue
        before = old[name]
        if isinstance(value, list | tuple) and isinstance(before, list | tuple):
            a, b = [_number(v) for v in value], [_number(v) for v in before]
            if len(a) == len(b) and all(x is not None for x in a + b):
                out[f"{name}_delta"] = [x - y for x, y in zip(a, b, strict=True) if x is not None and y is not None]
        else:
            x, y = _number(value), _number(before)
            if x is not None and y is not None:
                out[f"{name}_delta"] = x - y
    return out


def check_due(trigger: Trigger, last_check: Any, now: datetime) -> float:
    """Seconds until the trigger may be evaluated again (0: now). ``last_check`` is ISO text or None."""
    period = trigger.check_period_seconds or DEFAULT_CHECK_PERIOD
    last = parse_time(last_check)
    if last is None:
        return 0.0
    try:
        elapsed = (now - last).total_seconds()
    except TypeError:  # naive vs aware: evaluate now rather than wedge
        return 0.0
    if elapsed < 0:  # clock went back: evaluate now
        return 0.0
    return max(period - elapsed, 0.0)


@dataclass(frozen=True)
class TriggerResult:
    """What an evaluation decided and, when it did not fire, when to look again."""

    fired: bool
    reason: str
    requeue_after: float | None = None
    evaluated: bool = True


def evaluate(trigger: Trigger, metrics: Mapping[str, Any], now: datetime, last_check: Any = None) -> TriggerResult:
    """Evaluate ``trigger`` honouring its check period, timer window and condition."""
    period = float(trigger.check_period_seconds or DEFAULT_CHECK_PERIOD)
    wait = check_due(trigger, last_check, now)
    if wait > 0:
        return TriggerResult(False, "not due", wait, evaluated=False)
    if not in_window(trigger.timer, now):
        # Not recorded as a check: the first look after the window opens evaluates at once.
        return TriggerResult(False, "timer window closed", max(seconds_until_open(trigger.timer, now), 1.0), evaluated=False)
    if condition_holds(trigger.condition, metrics):
        return TriggerResult(True, "condition holds")
    return TriggerResult(False, "condition does not hold", period)
