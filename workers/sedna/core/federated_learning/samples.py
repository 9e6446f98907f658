"""How many training samples a trainer holds: the weight FedAvg gives its update.

Sedna reports ``len(train_data)``, which is 2 for the common ``(x, y)`` pair, so every trainer
weighed the same whatever its data. :func:`count_samples` understands every shape a worker
script passes to ``FederatedLearning.train``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["count_samples"]


def _length(obj: Any) -> int | None:
    """Rows of an array-like: ``shape[0]`` (numpy, pandas, tensors) or ``len``; None if unknown."""
    shape = getattr(obj, "shape", None)
    if shape is not None:
        try:
            if len(shape) > 0:
                return int(shape[0])
        except TypeError:  # a shape that is not a tuple (e.g. a method): use len below
            pass
    try:
        return len(obj)
    except TypeError:
        return None


def _is_pair(data: Any) -> bool:
    """An ``(x, y)`` pair: two array-likes with the same number of rows (not two samples)."""
    if not isinstance(data, tuple | list) or len(data) != 2:
        return False
    x, y = data
    if isinstance(x, str | bytes) or isinstance(y, str | bytes):
        return False
    nx, ny = _length(x), _length(y)
    return nx is not None and nx == ny


def _torch_count(data: Any) -> int | None:
    """A torch ``DataLoader`` counts its dataset's samples (``len(loader)`` is batches)."""
    dataset = getattr(data, "dataset", None)
    if dataset is not None and hasattr(data, "batch_size"):
        sampler = getattr(data, "sampler", None)
        # a sampler that draws a subset (SubsetRandomSampler ...) knows how many it draws
        if sampler is not None and type(sampler).__name__ not in ("SequentialSampler", "RandomSampler"):
            counted = _length(sampler)
            if counted is not None:
                return counted
        return _length(dataset)
    return None


def count_samples(data: Any) -> int:
    """The number of samples in ``data``.

    * ``BaseDataSource`` (anything with ``num_examples()``), or an object with ``x``: its x rows;
    * an ``(x, y)`` tuple or list, a ``{"x", "y"}`` dict: the rows of x;
    * a numpy array, DataFrame or tensor: its first dimension;
    * a torch ``DataLoader``: its dataset's (or sampler's) size; a torch ``Dataset``: ``len``;
    * any other sized object (a list of samples): ``len``.

    Returns 0 for ``None`` or an unsized iterable (FedAvg then weighs such a trainer by the
    others' counts; with no counts anywhere it takes a plain mean).
    """
    if data is None:
        return 0
    num_examples = getattr(data, "num_examples", None)
    if callable(num_examples):
        return int(num_examples())
    counted = _torch_count(data)
    if counted is not None:
        return counted
    if isinstance(data, dict) and "x" in data:
        return _length(data["x"]) or 0
    if _is_pair(data):
        return _length(data[0]) or 0
    x = getattr(data, "x", None)
    if x is not None and not isinstance(data, tuple | list | dict):
        return _length(x) or 0
    return _length(data) or 0
