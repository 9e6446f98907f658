"""Lifelong learning's measures and result shapes: metric functions, seen-task accuracy,
unseen-task F1, and the per-sample unseen verdicts of a batch."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np

__all__ = ["UnseenFlags", "as_result", "metric_functions", "quality_summary", "sample_keys", "f1_score"]


class UnseenFlags(dict):
    """Sedna 0.6's ``is_unseen_task`` of a batch, ``{sample key: bool}``.

    Its truth value is "any sample unseen", so a 0.3-0.5 script's ``if is_unseen_task:``
    keeps its meaning; it is a dict, so it serialises as JSON.
    """

    def __bool__(self) -> bool:
        return any(self.values())

    @classmethod
    def of(cls, keys: list[Hashable], mask: np.ndarray) -> UnseenFlags:
        """Flags by key; samples sharing a key are unseen if any of them is."""
        flags = cls()
        for key, flag in zip(keys, mask.tolist(), strict=True):
            flags[key] = bool(flags.get(key, False) or flag)
        return flags


def sample_keys(samples: Any) -> list[Hashable]:
    """A key per sample: the DataFrame row label; a sample's name (a string sample, or the
    string first item of a sequence sample, e.g. an image path); else its position."""
    x = getattr(samples, "x", samples)
    if hasattr(x, "index") and hasattr(x, "iloc"):
        return list(x.index)
    keys: list[Hashable] = []
    for i, item in enumerate(x):
        if isinstance(item, str):
            keys.append(item)
        elif isinstance(item, list | tuple | np.ndarray) and len(item) and isinstance(item[0], str):
            keys.append(item[0])
        else:
            keys.append(i)
    return keys


def as_result(values: list[Any]) -> Any:
    """The answers as an array; an object array when they mix kinds (numpy would turn numbers
    into strings next to an unseen sample's text answer), a list when they cannot stack."""
    try:
        arr = np.asarray(values)
    except ValueError:
        return values
    if arr.dtype.kind in "USa" and not all(isinstance(v, str | bytes) for v in values):
        mixed = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            mixed[i] = v
        return mixed
    return arr


def _sklearn_metric(name: str) -> Callable[..., float]:
    import sklearn.metrics

    fn = getattr(sklearn.metrics, name, None)
    if not callable(fn):
        raise ValueError(f"unknown metric {name!r}: not a sklearn.metrics function")
    return fn


def _bind(fn: Callable[..., float], param: Mapping[str, Any]) -> Callable[[Any, Any], float]:
    return (lambda y, p: fn(y, p, **param)) if param else fn


def metric_functions(metrics: Any, param: Mapping[str, Any]) -> dict[str, Callable[[Any, Any], float]]:
    """``{name: (y_true, y_pred) -> float}`` from Sedna's spellings of ``metrics``: a callable, a
    ``sklearn.metrics`` name, a list of those or a ``{name: callable or name}`` dict; ``{}`` for
    None (the estimator's own ``evaluate`` then scores)."""
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        items = list(metrics.items())
    elif isinstance(metrics, list | tuple):
        items = [
            (m if isinstance(m, str) else getattr(m, "__name__", f"metric{i}"), m)
            for i, m in enumerate(metrics)
        ]
    else:
        items = [(metrics if isinstance(metrics, str) else getattr(metrics, "__name__", "metric"), metrics)]
    out: dict[str, Callable[[Any, Any], float]] = {}
    for name, fn in items:
        out[str(name)] = _bind(_sklearn_metric(fn) if isinstance(fn, str) else fn, param)
    return out


def f1_score(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """F1 of boolean verdicts; None when there is nothing to find and nothing was found."""
    tp = int((truth & predicted).sum())
    denominator = 2 * tp + int((~truth & predicted).sum()) + int((truth & ~predicted).sum())
    return 2 * tp / denominator if denominator else None


def quality_summary(
    y: Any, predictions: Mapping[int, Any], mapping: np.ndarray, unseen: np.ndarray
) -> dict[str, Any]:
    """Seen-task accuracy and unseen-task detection of one evaluation.

    ``predictions``: position -> answer of every sample of a known task; ``mapping``: its task
    (-1: no known task, i.e. truly unseen); ``unseen``: the recogniser's verdicts.
    """
    truth = np.asarray(mapping) < 0
    predicted = np.asarray(unseen, dtype=bool)
    summary: dict[str, Any] = {
        "seen_samples": int((~truth).sum()),
        "unseen_samples": int(truth.sum()),
        "unseen_detected": int(predicted.sum()),
    }
    if y is not None and predictions:
        labels = np.asarray(y).reshape(len(truth), -1)[:, 0] if len(truth) else np.asarray([])
        hits = [bool(np.all(np.asarray(p) == labels[i])) for i, p in predictions.items()]
        summary["seen_task_accuracy"] = float(np.mean(hits))
    tp = int((truth & predicted).sum())
    if predicted.any():
        summary["unseen_precision"] = tp / int(predicted.sum())
    if truth.any():
        summary["unseen_recall"] = tp / int(truth.sum())
    f1 = f1_score(truth, predicted)
    if f1 is not None:
        summary["unseen_f1"] = f1
    return summary
