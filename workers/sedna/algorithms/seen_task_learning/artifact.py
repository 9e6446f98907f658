"""Artifacts of the lifelong-learning pipeline (Sedna's ``Task``, ``TaskGroup``, ``Model``)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Task", "TaskGroup", "Model", "Samples", "subset", "features", "sample_count", "as_samples",
    "drop_columns", "present_columns",
]


class Samples:
    """Minimal data source (``x``, ``y``) used when a caller passes raw arrays."""

    def __init__(self, x: Any, y: Any = None, data_type: str = "test") -> None:
        self.x = x
        self.y = y
        self.data_type = data_type

    def num_examples(self) -> int:
        return len(self.x)

    def __len__(self) -> int:
        return len(self.x)


def as_samples(data: Any) -> Any:
    """``data`` itself when it is a data source (has ``x``), else a :class:`Samples` around it."""
    return data if hasattr(data, "x") else Samples(data)


@dataclass
class Task:
    """A set of samples that share a task (``entry`` names it)."""

    entry: str
    samples: Any = None
    meta_attr: Any = None
    model: Any = None
    result: Any = None


@dataclass
class TaskGroup:
    """Tasks trained together into one model."""

    entry: str
    tasks: list[Task] = field(default_factory=list)
    model: Model | None = None
    samples: Any = None
    # statistics of the group's training features, used to recognise unseen samples
    centroid: np.ndarray | None = None
    radius: float | None = None
    scale: np.ndarray | None = None
    # pose classifier of an image task (unseen_task_detection.orientation); None: not an image task
    orientation: Any = None
    deploy: bool = True
    sample_num: int = 0


@dataclass
class Model:
    """A trained task model: ``model`` is where it is saved (path/URL)."""

    index: int
    entry: str
    model: Any = None
    result: Any = None
    meta_attr: Any = None


def sample_count(samples: Any) -> int:
    if samples is None:
        return 0
    if hasattr(samples, "num_examples"):
        try:
            return int(samples.num_examples())
        except Exception:
            pass
    x = getattr(samples, "x", samples)
    return len(x) if x is not None else 0


def _take(values: Any, idx: np.ndarray) -> Any:
    if values is None:
        return None
    if hasattr(values, "iloc"):
        return values.iloc[idx]
    if isinstance(values, np.ndarray):
        return values[idx]
    return [values[int(i)] for i in idx]


def subset(samples: Any, idx: Any) -> Any:
    """The same kind of data source holding only the samples at ``idx`` (order kept)."""
    idx = np.asarray(idx, dtype=int)
    if not hasattr(samples, "x"):
        return _take(samples, idx)
    new = copy.copy(samples)
    new.x = _take(samples.x, idx)
    new.y = _take(getattr(samples, "y", None), idx)
    meta = getattr(samples, "meta_attr", None)
    if meta is not None and not isinstance(meta, str) and hasattr(meta, "__len__") and len(meta) == len(samples.x):
        new.meta_attr = _take(meta, idx)
    return new


def features(x: Any) -> np.ndarray:
    """A float matrix (n, d) of the numeric features of ``x`` (DataFrame, array or lists)."""
    x = getattr(x, "x", x)
    if hasattr(x, "select_dtypes"):
        x = x.select_dtypes(include="number").to_numpy(dtype=float)
    arr = np.asarray(x, dtype=float)
    return arr.reshape(len(arr), -1) if arr.ndim != 2 else arr


def present_columns(samples: Any, columns: Any) -> list[str]:
    """The names in ``columns`` that are columns of ``samples.x`` (a DataFrame), in order."""
    x = getattr(samples, "x", samples)
    if not columns or not hasattr(x, "columns"):
        return []
    return [c for c in columns if c in x.columns]


def drop_columns(samples: Any, columns: Any) -> Any:
    """``samples`` without the ``columns`` of its DataFrame ``x`` (a copy; the input is kept).

    Sedna's attribute-based task definition and allocation drop the attribute columns, so the
    task models never see them; a sample source without them is returned as is.
    """
    cols = present_columns(samples, columns)
    if not cols:
        return samples
    if not hasattr(samples, "x"):
        return samples.drop(columns=cols)
    new = copy.copy(samples)
    new.x = samples.x.drop(columns=cols)
    return new
