"""Distance-to-score conversion and result filtering (learnware's heuristics, pure functions)."""

from __future__ import annotations

import numpy as np

DIST_RATIO = 0.1
MIN_SCORE = 0.92
IMPROVE_SCORE = 0.7
FILTER_SCORE = 0.6


def dist_to_score(dist: np.ndarray) -> np.ndarray:
    """Map squared MMDs to scores in (0, 1]; the best distance gets 1 or 0.92 (see reference §4.4)."""
    d = np.asarray(dist, dtype=np.float64)
    if d.size == 0:
        return d
    d_min, d_max = float(d.min()), float(d.max())
    if d_max == d_min:
        return np.ones_like(d)
    eps = DIST_RATIO * float(d.mean())
    if d_min < eps:
        eps = d_min
    elif (d_max - d_min) / (d_max - eps) < MIN_SCORE:
        eps = d_max - (d_max - d_min) / MIN_SCORE
    score = (d_max - d) / (d_max - eps)
    low = score < IMPROVE_SCORE
    # square root lifts weak matches but never above the improve threshold
    score[low] = np.minimum(np.sqrt(np.clip(score[low], 0.0, None)), IMPROVE_SCORE)
    return score


def filter_single(scores: np.ndarray, min_num: int = 1) -> int:
    """How many leading (descending) single results to keep: ``min_num``, then while >= 0.6."""
    keep = min(min_num, len(scores))
    while keep < len(scores) and scores[keep] >= FILTER_SCORE:
        keep += 1
    return keep
