"""Triggers of incremental and lifelong learning: a daily timer window AND a metric condition."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .base import SpecModel

__all__ = ["Trigger", "Timer", "TriggerCondition", "OPERATORS", "OPERATOR_ALIASES", "TIME_OF_DAY"]

# Every spelling Sedna's LC accepts, mapped to its symbol.
OPERATOR_ALIASES: dict[str, str] = {
    ">": ">", "gt": ">",
    ">=": ">=", "ge": ">=",
    "==": "==", "=": "==", "eq": "==",
    "!=": "!=", "ne": "!=",
    "<=": "<=", "le": "<=",
    "<": "<", "lt": "<",
}  # fmt: skip
OPERATORS = tuple(OPERATOR_ALIASES)

TIME_OF_DAY = r"^(([01]?[0-9]|2[0-3]):[0-5][0-9]|24:00)$"

Operator = Literal[">", "gt", ">=", "ge", "==", "=", "eq", "!=", "ne", "<=", "le", "<", "lt"]
TimeOfDay = Annotated[str, Field(pattern=TIME_OF_DAY, description="Time of day as HH:MM (24:00 allowed as an end).")]


def _coerce_time(value: Any) -> Any:
    # YAML 1.1 loaders (PyYAML among them) read an unquoted `02:00` as the base-60 integer
    # 120; Sedna's samples write the timer unquoted, so turn such integers back into HH:MM.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


def minutes_of(hhmm: str) -> int:
    """Minutes since midnight of an ``HH:MM`` string (``24:00`` gives 1440)."""
    match = re.match(r"^(\d{1,2}):(\d{2})$", hhmm)
    if not match:
        raise ValueError(f"{hhmm!r} is not HH:MM")
    return int(match.group(1)) * 60 + int(match.group(2))


class Timer(SpecModel):
    """A daily window. ``start > end`` is a window that crosses midnight."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.start != '24:00'", "message": "24:00 may only end a window; start at 00:00 instead"},
                {"rule": "self.start != self.end", "message": "an empty window never fires: start and end are equal"},
            ]
        }
    )

    start: TimeOfDay
    end: TimeOfDay

    @field_validator("start", "end", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return _coerce_time(value)

    @field_validator("start")
    @classmethod
    def _start_not_24(cls, value: str) -> str:
        if value == "24:00":
            raise ValueError("24:00 may only end a window; start at 00:00 instead")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Timer:
        if self.start == self.end:
            raise ValueError(f"an empty window never fires: start and end are both {self.start}")
        return self


class TriggerCondition(SpecModel):
    operator: Operator = Field(description="Comparison: > >= == != <= < (or gt ge eq ne le lt).")
    threshold: float = Field(description="Value the metric is compared with.")
    metric: str = Field(
        min_length=1,
        description="Metric name, e.g. num_of_samples, precision_delta; `name[i]` picks one element of a list metric.",
    )

    @property
    def symbol(self) -> str:
        """The operator as a symbol, whichever spelling the user wrote."""
        return OPERATOR_ALIASES[self.operator]


class Trigger(SpecModel):
    check_period_seconds: int | None = Field(
        default=None, ge=1, description="How often the trigger is evaluated, in seconds (default 60)."
    )
    timer: Timer | None = None
    condition: TriggerCondition

    @model_validator(mode="before")
    @classmethod
    def _require_condition(cls, data: Any) -> Any:
        if isinstance(data, dict) and "condition" not in data:
            raise ValueError("a trigger needs a condition {operator, threshold, metric}")
        return data
