"""Reuse of returned models behind a common ``predict``: averaging and job selection (no labels
needed), and the reusers that learn from a few labelled samples, re-exported here:
:class:`~sedna_market.pruning.EnsemblePruningReuser` and
:class:`~sedna_market.augment.FeatureAugmentReuser`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .augment import FeatureAugmentReuser
from .pruning import EnsemblePruningReuser
from .spec.rkme import RKMETableSpec

__all__ = ["AveragingReuser", "JobSelectorReuser", "EnsemblePruningReuser", "FeatureAugmentReuser"]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class AveragingReuser:
    """Combine several models' outputs.

    ``mean`` averages outputs (regression); ``vote_by_label`` takes each model's label (argmax of
    multi-column outputs) and the per-sample majority; ``vote_by_prob`` averages softmaxed scores
    and returns probabilities.
    """

    def __init__(self, models: Sequence[Any], mode: Literal["mean", "vote_by_label", "vote_by_prob"] = "mean") -> None:
        if not models:
            raise ValueError("need at least one model")
        self.models = list(models)
        self.mode = mode

    def predict(self, X: np.ndarray) -> np.ndarray:
        outs = [np.asarray(m.predict(X)) for m in self.models]
        if self.mode == "mean":
            return np.mean(np.stack([o.astype(np.float64) for o in outs]), axis=0)
        if self.mode == "vote_by_prob":
            return np.mean(np.stack([_softmax(o.reshape(len(X), -1).astype(np.float64)) for o in outs]), axis=0)
        labels = np.stack([o.argmax(axis=1) if o.ndim > 1 and o.shape[1] > 1 else o.reshape(-1) for o in outs])
        labels = labels.astype(np.int64)
        return np.array([np.bincount(col).argmax() for col in labels.T])


class JobSelectorReuser:
    """Route each sample to one model with a selector trained on herded pseudo-samples.

    Each model's RKME yields ``max(5, herding_num * w_i)`` pseudo-samples labelled with the model's
    index (``w`` = mixture weights, uniform when not given); a gradient-boosting classifier learns
    which model's training distribution a sample belongs to.  Raw data never leaves the uploaders.
    """

    def __init__(
        self,
        models: Sequence[Any],
        specs: Sequence[RKMETableSpec],
        weights: Sequence[float] | None = None,
        herding_num: int = 1000,
        use_herding: bool = True,
        random_state: int = 0,
    ) -> None:
        if len(models) != len(specs) or not models:
            raise ValueError("need one RKME spec per model")
        self.models = list(models)
        self.selector: Any = None
        if len(models) == 1:
            return
        from sklearn.ensemble import HistGradientBoostingClassifier

        w = np.asarray(weights if weights is not None else np.full(len(specs), 1.0 / len(specs)))
        rng = np.random.default_rng(random_state)
        Xs, ys = [], []
        for i, spec in enumerate(specs):
            if use_herding:
                pts = spec.herding(max(5, int(herding_num * w[i])), rng).reshape(-1, spec.dim)
            else:
                pts = spec.z2d
            Xs.append(pts)
            ys.append(np.full(len(pts), i))
        self.selector = HistGradientBoostingClassifier(max_iter=200, random_state=random_state)
        self.selector.fit(np.concatenate(Xs), np.concatenate(ys))

    def select(self, X: np.ndarray) -> np.ndarray:
        """Index of the model chosen for each sample."""
        if self.selector is None:
            return np.zeros(len(X), dtype=np.int64)
        return np.asarray(self.selector.predict(np.asarray(X).reshape(len(X), -1)), dtype=np.int64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        choice = self.select(X)
        out: np.ndarray | None = None
        for i, model in enumerate(self.models):
            mask = choice == i
            if not mask.any():
                continue
            pred = np.asarray(model.predict(X[mask]))
            if out is None:
                out = np.zeros((len(X), *pred.shape[1:]), dtype=pred.dtype)
            out[mask] = pred
        assert out is not None
        return out
