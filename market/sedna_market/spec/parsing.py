"""Parsing of untrusted spec data: the spec files of an uploaded package, the ``semantic_spec``
form field and the numbers of a search's ``stat_spec``.

Every way such data can be wrong ends in a :class:`SpecDataError` (a ``ValueError``) whose
message names where the data came from (``where``) and what was wrong, never in another
exception (a ``RecursionError`` from deep nesting, an ``AttributeError`` from a JSON value that is
not an object, an ``OverflowError`` from a number too large for a float) that a server answers
with a 500.  The callers (``package.read_package``, ``market.parse_semantic``,
``RKMETableSpec.from_dict``, ``schemas.StatSpecModel``) turn it into their own error (a 422).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np

#: the largest count a spec may carry (``num_points``): a signed 64-bit integer, what a database
#: column and numpy hold
MAX_COUNT = 2**63 - 1


class SpecDataError(ValueError):
    """Untrusted spec data is malformed; the message says where and what."""


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**limit else f"an integer of {len(str(abs(value)))} digits"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_kind(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _reject_constant(name: str) -> float:
    raise SpecDataError(f"holds {name}, which is not a JSON number (numbers must be finite)")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SpecDataError(f"holds the number {_short(text)}, too large for a 64-bit float")
    return value


def _parse_int(text: str) -> int:
    value = int(text)  # over 4,300 digits: ValueError, reported as invalid JSON
    if abs(value) > sys.float_info.max:
        raise SpecDataError(f"holds {_short(value)}, too large for a 64-bit float")
    return value


def load_json(text: str | bytes, where: str) -> Any:
    """Parse untrusted JSON text (RFC 8259: no ``NaN``/``Infinity``, no number beyond a float's
    range); ``where`` names the file or field in the error."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int)
    except SpecDataError as exc:
        raise SpecDataError(f"{where} {exc}") from None
    except RecursionError:
        # json's decoder recurses per nesting level: 50,000 '[' exhaust the stack
        raise SpecDataError(f"{where} is nested too deeply to parse; flatten it") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise SpecDataError(f"{where} is not valid JSON: {exc}") from None


def as_object(value: Any, where: str) -> dict[str, Any]:
    """``value`` when it is a JSON object, else a :class:`SpecDataError` naming ``where``."""
    if not isinstance(value, dict):
        raise SpecDataError(f"{where} must be a JSON object, not {json_kind(value)}")
    return value


def load_json_object(text: str | bytes, where: str) -> dict[str, Any]:
    """:func:`load_json` of text whose top level must be an object (every spec file and field)."""
    return as_object(load_json(text, where), where)


def finite_float(value: Any, where: str) -> float:
    """A JSON number as a finite float (not a boolean, string or overflowing integer)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecDataError(f"{where} must be a number, not {json_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise SpecDataError(f"{where} = {_short(value)} is too large for a 64-bit float") from None
    if not math.isfinite(number):
        raise SpecDataError(f"{where} must be a finite number, not {number}")
    return number


def count(value: Any, where: str, maximum: int = MAX_COUNT) -> int:
    """A JSON number that is a whole count in ``[0, maximum]`` (``3.0`` counts, ``3.5`` does not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecDataError(f"{where} must be a whole number, not {json_kind(value)}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise SpecDataError(f"{where} must be a whole number, not {value}")
    number = int(value)
    if not 0 <= number <= maximum:
        raise SpecDataError(f"{where} = {_short(number)} is out of range [0, {maximum}]")
    return number


def finite_array(value: Any, where: str) -> np.ndarray:
    """A (nested) list of numbers as a float64 array whose every entry is finite."""
    if isinstance(value, str | bytes | dict):
        raise SpecDataError(f"{where} must be an array of numbers, not {json_kind(value)}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise SpecDataError(f"{where} holds a number too large for a 64-bit float") from None
    except (ValueError, TypeError) as exc:
        raise SpecDataError(f"{where} is not a rectangular array of numbers: {exc}") from None
    if not np.all(np.isfinite(array)):
        raise SpecDataError(f"{where} contains NaN or Inf")
    return array
