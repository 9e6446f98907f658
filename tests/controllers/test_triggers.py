"""Trigger evaluation: operators, epsilon, indexed and list metrics, deltas, timer windows, periods."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sedna_operator.api import Trigger
from sedna_operator.api.trigger import Timer, TriggerCondition
from sedna_operator.controllers import triggers

T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def cond(op: str, threshold: float, metric: str = "m") -> TriggerCondition:
    return TriggerCondition(operator=op, threshold=threshold, metric=metric)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "op,threshold,metrics,expected",
    [
        (">", 500, {"m": 501}, True), ("gt", 500, {"m": 500}, False),
        (">=", 500, {"m": 500}, True), ("ge", 500, {"m": 499.9}, False),
        ("<", 1, {"m": 0.5}, True), ("lt", 1, {"m": 1}, False),
        ("<=", 1, {"m": 1}, True), ("le", 1, {"m": 1.1}, False),
        ("==", 0.3, {"m": 0.1 + 0.2}, True), ("=", 0.3, {"m": 0.3000001}, True), ("eq", 0.3, {"m": 0.30001}, False),
        ("!=", 0.3, {"m": 0.3000001}, False), ("ne", 0.3, {"m": 0.31}, True),
        (">", 0, {"other": 1}, False),  # missing metric never fires
        (">", 0, {"m": "2.5"}, True),  # numeric strings
        (">", 0, {"m": "abc"}, False),
    ],
)
def test_operators(op: str, threshold: float, metrics: dict, expected: bool) -> None:
    assert triggers.condition_holds(cond(op, threshold), metrics) is expected


@pytest.mark.parametrize(
    "metric,metrics,expected",
    [
        ("m[1]", {"m": [0.0, 0.2]}, True),
        ("m[0]", {"m": [0.0, 0.2]}, False),
        ("m[-1]", {"m": [0.0, 0.2]}, True),
        ("m[5]", {"m": [0.0, 0.2]}, False),  # out of range
        ("m[0]", {"m": 0.5}, False),  # index on a scalar
        ("m", {"m": [0.2, 0.3]}, True),  # list without index: every element
        ("m", {"m": [0.2, 0.05]}, False),
        ("m", {"m": []}, False),
        ("m[0]", {"m[0]": 0.5}, True),  # a metric literally named with brackets
    ],
)
def test_indexed_and_list_metrics(metric: str, metrics: dict, expected: bool) -> None:
    assert triggers.condition_holds(cond(">", 0.1, metric), metrics) is expected


def test_delta_metrics() -> None:
    out = triggers.delta_metrics({"precision": [0.9, 0.8], "recall": 0.7, "name": "x", "f1": [1, 2]},
                                 {"precision": [0.7, 0.75], "recall": 0.5, "f1": [1]})
    assert out["precision"] == [0.9, 0.8]
    assert out["precision_delta"] == pytest.approx([0.2, 0.05])
    assert out["recall_delta"] == pytest.approx(0.2)
    assert "f1_delta" not in out and "name_delta" not in out


@pytest.mark.parametrize(
    "start,end,hhmm,expected",
    [
        ("02:00", "20:00", "12:00", True), ("02:00", "20:00", "02:00", True), ("02:00", "20:00", "20:00", True),
        ("02:00", "20:00", "01:59", False), ("02:00", "20:00", "20:01", False),
        ("22:00", "06:00", "23:30", True), ("22:00", "06:00", "03:00", True), ("22:00", "06:00", "12:00", False),
        ("02:00", "24:00", "23:59", True), ("02:00", "24:00", "00:30", False),
        ("00:00", "24:00", "00:00", True),
    ],
)
def test_timer_window(start: str, end: str, hhmm: str, expected: bool) -> None:
    h, m = map(int, hhmm.split(":"))
    assert triggers.in_window(Timer(start=start, end=end), T.replace(hour=h, minute=m)) is expected


def test_seconds_until_open() -> None:
    timer = Timer(start="02:00", end="20:00")
    assert triggers.seconds_until_open(timer, T.replace(hour=21)) == 5 * 3600
    assert triggers.seconds_until_open(timer, T.replace(hour=1, minute=30)) == 1800
    assert triggers.seconds_until_open(timer, T) == 0


def trig(period: int | None = None, timer: dict | None = None) -> Trigger:
    data: dict = {"condition": {"operator": ">", "threshold": 10, "metric": "num_of_samples"}}
    if period:
        data["checkPeriodSeconds"] = period
    if timer:
        data["timer"] = timer
    return Trigger.model_validate(data)


@pytest.mark.parametrize(
    "trigger,n,now,last,fired,evaluated,requeue",
    [
        (trig(), 11, T, None, True, True, None),
        (trig(), 10, T, None, False, True, 60.0),  # default period 60
        (trig(30), 11, T, "2024-05-01T11:59:50+00:00", False, False, 20.0),  # not due yet
        (trig(30), 11, T, "2024-05-01T11:59:00+00:00", True, True, None),  # due
        (trig(30), 11, T, "2024-05-01T12:10:00+00:00", True, True, None),  # clock went back
        (trig(timer={"start": "13:00", "end": "14:00"}), 11, T, None, False, False, 3600.0),  # window closed
        (trig(timer={"start": "22:00", "end": "06:00"}), 11, T.replace(hour=23), None, True, True, None),
    ],
)
def test_evaluate(trigger: Trigger, n: int, now: datetime, last: str | None, fired: bool, evaluated: bool,
                  requeue: float | None) -> None:
    r = triggers.evaluate(trigger, {"num_of_samples": n}, now, last)
    assert (r.fired, r.evaluated, r.requeue_after) == (fired, evaluated, requeue)
