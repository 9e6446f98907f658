"""Turning the data a worker passes to ``train``/``evaluate``/``predict`` into (x, y)."""

from __future__ import annotations

from typing import Any

__all__ = ["split_xy"]


def split_xy(data: Any) -> tuple[Any, Any]:
    """(x, y) from a ``BaseDataSource``, an ``(x, y)`` pair, a ``{"x", "y"}`` dict, or bare x."""
    if data is None:
        return None, None
    if hasattr(data, "x") and hasattr(data, "y") and not isinstance(data, tuple | list | dict):
        y = data.y
        if y is not None and hasattr(y, "__len__") and len(y) == 0:
            y = None
        return data.x, y
    if isinstance(data, dict) and "x" in data:
        return data["x"], data.get("y")
    if isinstance(data, tuple | list) and len(data) == 2 and hasattr(data[0], "__len__") and hasattr(
        data[1], "__len__"
    ) and len(data[0]) == len(data[1]) and not isinstance(data[0], str | bytes):
        return data[0], data[1]
    return data, None
