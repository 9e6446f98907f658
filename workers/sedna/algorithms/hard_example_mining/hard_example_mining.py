"""Hard example mining filters with Sedna's aliases, parameters and rules (reference §5.1).

Every filter takes one inference result and answers "is it hard?" (``filter(result)`` or
``filter_obj(result)``), and ``batch(results)`` answers for N results at once with one numpy
pass (a bool array). Parameters may arrive as strings from ``HEM_PARAMETERS``; they are cast.

Cases Sedna leaves undefined (or crashes on), defined here:

- empty, ``None`` or malformed input (non-numeric values, boxes with 4 or fewer fields):
  not hard;
- ``CrossEntropy``: a probability of exactly 0 contributes 0 to Σ p·ln p (the limit of
  p·ln p), so one-hot vectors are fully confident; a single class has confidence 1;
- ``CrossEntropy`` and ``IBT``: any probability/score outside [0, 1] (NaN included) makes the
  result not hard, as in Sedna. Sedna also rejects a score of exactly 0 (its range check is
  falsy for 0); here 0 is a valid score;
- ``Threshold`` does not range-check scores (Sedna does not either);
- ``Threshold`` and ``IBT`` also take a classifier's output: a 1-D vector of class
  probabilities counts as one box whose score is the top probability (Sedna only reads
  detection boxes, so a classifier had to fake one).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.utils import to_float

__all__ = [
    "BaseFilter",
    "ThresholdFilter",
    "CrossEntropyFilter",
    "IBTFilter",
    "RandomFilter",
    "CloudOnlyFilter",
    "EdgeOnlyFilter",
]


class BaseFilter:
    """Interface of a hard example filter: ``__call__``/``filter`` for one result, ``batch``
    for many. Subclasses must implement ``__call__``; ``batch`` defaults to a loop."""

    def __init__(self, **kwargs: Any) -> None:
        self.params = kwargs

    def __call__(self, infer_result: Any = None) -> bool:
        raise NotImplementedError

    def filter(self, infer_result: Any = None) -> bool:
        """Whether ``infer_result`` is a hard example (same as calling the filter)."""
        return self(infer_result)

    def batch(self, results: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Hard-example flags for each result, as a bool array."""
        return np.fromiter((bool(self(r)) for r in results), dtype=bool, count=len(results))

    @classmethod
    def data_check(cls, data: Any) -> bool:
        """Whether ``data`` is a number in [0, 1]."""
        try:
            value = float(data)
        except (TypeError, ValueError):
            return False
        return 0.0 <= value <= 1.0


# ----------------------------------------------------------------------------- helpers
def _sample_array(result: Any) -> np.ndarray | None:
    """A 1-D float array from one probability vector (a ``(1, C)`` row is accepted)."""
    try:
        arr = np.asarray(result, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    return arr if arr.ndim == 1 and arr.size else None


def _top_probability(result: Any) -> list[float] | None:
    """``[max p]`` of a 1-D probability vector, else ``None``."""
    if isinstance(result, np.ndarray):
        if result.ndim != 1 or result.size == 0 or not np.issubdtype(result.dtype, np.number):
            return None
        return [float(result.max())]
    if isinstance(result, list | tuple) and result and all(
        isinstance(p, int | float | np.number) and not isinstance(p, bool) for p in result
    ):
        return [float(max(result))]
    return None


def _box_scores(result: Any) -> list[float] | None:
    """Scores (5th field) of one detection result, or ``[top probability]`` of one
    probability vector; ``None`` when malformed/empty."""
    if result is None:
        return None
    top = _top_probability(result)
    if top is not None:
        return top
    if isinstance(result, np.ndarray):
        if result.ndim != 2 or result.shape[0] == 0 or result.shape[1] <= 4:
            return None
        try:
            return result[:, 4].astype(np.float64).tolist()
        except (TypeError, ValueError):
            return None
    try:
        if len(result) == 0 or not all(len(box) > 4 for box in result):
            return None
        return [float(box[4]) for box in result]
    except (TypeError, ValueError):
        return None


def _ragged(rows: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate the non-empty rows: (flat values, segment starts, indices of those rows)."""
    idx = np.fromiter((i for i, r in enumerate(rows) if r is not None and r.size), dtype=np.intp)
    if idx.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.intp), idx
    kept = [r for r in rows if r is not None and r.size]
    lengths = np.fromiter((r.size for r in kept), dtype=np.intp, count=len(kept))
    starts = np.zeros(len(kept), dtype=np.intp)
    np.cumsum(lengths[:-1], out=starts[1:])
    return np.concatenate(kept), starts, idx


def _batch_box_scores(results: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flat scores, segment starts, row indices) of N detection results.

    A ``(N, B, >=5)`` array is sliced in one step; a list is gathered row by row (each row a
    small array op) and then reduced in one pass by the caller.
    """
    if isinstance(results, np.ndarray) and results.ndim == 2 and np.issubdtype(results.dtype, np.number):
        # N probability vectors: one score each, the top probability
        n = results.shape[0]
        if results.shape[1] == 0:
            return np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        return results.max(axis=1).astype(np.float64), np.arange(n, dtype=np.intp), np.arange(n, dtype=np.intp)
    if isinstance(results, np.ndarray) and results.ndim == 3 and results.shape[2] > 4:
        n, b = results.shape[:2]
        if b == 0:
            return np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        flat = results[:, :, 4].astype(np.float64).ravel()
        return flat, np.arange(n, dtype=np.intp) * b, np.arange(n, dtype=np.intp)
    rows: list[np.ndarray | None] = []
    for r in results:
        scores = _box_scores(r)
        rows.append(None if scores is None else np.asarray(scores, dtype=np.float64))
    return _ragged(rows)


# ----------------------------------------------------------------------------- filters
@ClassFactory.register(ClassType.HEM, alias="Threshold")
class ThresholdFilter(BaseFilter):
    """Hard iff the mean box score is below ``threshold`` (default 0.5).

    Input: a list of boxes ``[x1, y1, x2, y2, score, label, ...]`` (each longer than 4), or
    one vector of class probabilities (hard iff the top probability is below ``threshold``).
    """

    def __init__(self, threshold: float | str = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = to_float(threshold, "threshold")

    def __call__(self, infer_result: Any = None) -> bool:
        scores = _box_scores(infer_result)
        if scores is None:
            return False
        return sum(scores) / len(scores) < self.threshold

    def batch(self, results: Sequence[Any] | np.ndarray) -> np.ndarray:
        out = np.zeros(len(results), dtype=bool)
        flat, starts, idx = _batch_box_scores(results)
        if idx.size:
            lengths = np.diff(np.append(starts, flat.size))
            out[idx] = np.add.reduceat(flat, starts) / lengths < self.threshold
        return out


@ClassFactory.register(ClassType.HEM, alias="CrossEntropy")
class CrossEntropyFilter(BaseFilter):
    """Hard iff ``1 + Σ pᵢ ln pᵢ / ln n < threshold_cross_entropy`` (default 0.5).

    Input: one vector of n class probabilities. The left side is 1 minus the normalised
    entropy: 1 for a one-hot vector, 0 for a uniform one.
    """

    def __init__(self, threshold_cross_entropy: float | str = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold_cross_entropy = to_float(threshold_cross_entropy, "threshold_cross_entropy")

    def confidence(self, infer_result: Any) -> float | None:
        """``1 - H(p)/ln n`` of one vector, or ``None`` when the input is invalid."""
        if isinstance(infer_result, list | tuple):
            # plain Python is several times faster than numpy for the short vectors HEM sees
            if not infer_result:
                return None
            try:
                probs = [float(p) for p in infer_result]
            except (TypeError, ValueError):
                return None
            if not all(0.0 <= p <= 1.0 for p in probs):
                return None
            n = len(probs)
            if n == 1:
                return 1.0
            return 1.0 + sum(p * math.log(p) for p in probs if p > 0.0) / math.log(n)
        arr = _sample_array(infer_result)
        if arr is None or not bool(((arr >= 0.0) & (arr <= 1.0)).all()):
            return None
        if arr.size == 1:
            return 1.0
        nz = arr[arr > 0.0]
        return 1.0 + float(np.dot(nz, np.log(nz))) / math.log(arr.size)

    def __call__(self, infer_result: Any = None) -> bool:
        conf = self.confidence(infer_result)
        return conf is not None and conf < self.threshold_cross_entropy

    def batch_confidence(self, results: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(confidence, valid) arrays for N probability vectors; invalid rows have NaN."""
        n = len(results)
        try:
            probs = np.asarray(results, dtype=np.float64)
        except (TypeError, ValueError):
            probs = None  # ragged or partly non-numeric
        if probs is not None and probs.ndim == 3 and probs.shape[1] == 1:
            probs = probs[:, 0, :]
        conf = np.full(n, np.nan)
        if probs is not None and probs.ndim == 2:
            if probs.shape[1] == 0:
                return conf, np.zeros(n, dtype=bool)
            valid = np.asarray(((probs >= 0.0) & (probs <= 1.0)).all(axis=1))
            classes = probs.shape[1]
            if classes == 1:
                conf[:] = 1.0
            else:
                logs = np.log(probs, out=np.zeros_like(probs), where=probs > 0.0)
                conf = 1.0 + np.einsum("ij,ij->i", probs, logs) / math.log(classes)
            conf[~valid] = np.nan
            return conf, valid
        rows = [_sample_array(r) for r in results]
        flat, starts, idx = _ragged(rows)
        valid = np.zeros(n, dtype=bool)
        if idx.size == 0:
            return conf, valid
        lengths = np.diff(np.append(starts, flat.size))
        in_range = (flat >= 0.0) & (flat <= 1.0)
        ok = np.add.reduceat(in_range.astype(np.intp), starts) == lengths
        logs = np.log(flat, out=np.zeros_like(flat), where=flat > 0.0)
        sums = np.add.reduceat(flat * logs, starts)
        with np.errstate(divide="ignore", invalid="ignore"):
            row_conf = np.where(lengths > 1, 1.0 + sums / np.log(np.maximum(lengths, 2)), 1.0)
        row_conf[~ok] = np.nan
        conf[idx] = row_conf
        valid[idx] = ok
        return conf, valid

    def batch(self, results: Sequence[Any] | np.ndarray) -> np.ndarray:
        conf, valid = self.batch_confidence(results)
        return valid & (np.nan_to_num(conf, nan=np.inf) < self.threshold_cross_entropy)


@ClassFactory.register(ClassType.HEM, alias="IBT")
class IBTFilter(BaseFilter):
    """Image-box-threshold: hard iff ``k / n >= 1 - threshold_img`` where k counts the boxes
    with score ``<= threshold_box`` (defaults 0.5 and 0.5). A vector of class probabilities
    is one box scored by its top probability."""

    def __init__(self, threshold_img: float | str = 0.5, threshold_box: float | str = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold_img = to_float(threshold_img, "threshold_img")
        self.threshold_box = to_float(threshold_box, "threshold_box")

    def __call__(self, infer_result: Any = None) -> bool:
        scores = _box_scores(infer_result)
        if scores is None or not all(0.0 <= s <= 1.0 for s in scores):
            return False
        low = sum(1 for s in scores if s <= self.threshold_box)
        return low / len(scores) >= 1 - self.threshold_img

    def batch(self, results: Sequence[Any] | np.ndarray) -> np.ndarray:
        out = np.zeros(len(results), dtype=bool)
        flat, starts, idx = _batch_box_scores(results)
        if idx.size:
            lengths = np.diff(np.append(starts, flat.size))
            in_range = (flat >= 0.0) & (flat <= 1.0)
            ok = np.add.reduceat(in_range.astype(np.intp), starts) == lengths
            low = np.add.reduceat((flat <= self.threshold_box).astype(np.intp), starts)
            out[idx] = ok & (low / lengths >= 1 - self.threshold_img)
        return out


@ClassFactory.register(ClassType.HEM, alias="Random")
class RandomFilter(BaseFilter):
    """Hard iff a uniform draw in [0, 1) is below ``random_ratio`` (default 0.3).

    ``seed`` (an extension) makes the draws reproducible.
    """

    def __init__(self, random_ratio: float | str = 0.3, seed: int | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.random_ratio = to_float(random_ratio, "random_ratio")
        seed_value = None if seed is None or seed == "" else int(seed)
        self._rand = random.Random(seed_value)
        self._rng = np.random.default_rng(seed_value)

    def __call__(self, infer_result: Any = None) -> bool:
        return self._rand.uniform(0, 1) < self.random_ratio

    def batch(self, results: Sequence[Any] | np.ndarray) -> np.ndarray:
        return self._rng.random(len(results)) < self.random_ratio


@ClassFactory.register(ClassType.HEM, alias="CloudOnly")
class CloudOnlyFilter(BaseFilter):
    """Every sample is hard: everything goes to the cloud."""

    def __call__(self, infer_result: Any = None) -> bool:
        return True

    def batch(self, results: Sequence[Any] | np.ndarray) -> np.ndarray:
        return np.ones(len(results), dtype=bool)


@ClassFactory.register(ClassType.HEM, alias="EdgeOnly")
class EdgeOnlyFilter(BaseFilter):
    """No sample is hard: everything stays on the edge."""

    def __call__(self, infer_result: Any = None) -> bool:
        return False

    def batch(self, results: Sequence[Any] | np.ndarray) -> np.ndarray:
        return np.zeros(len(results), dtype=bool)
