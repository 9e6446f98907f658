"""Orientation check for image tasks: a sample shown in a pose its task never had is unseen.

A distance to a task's training distribution misses an image that is mirrored or rotated: its
pixels keep the same range, spread and mean, and a mirrored 8x8 digit is close, pixel by pixel, to
some other digit. What changed is the *pose*, and a task's own images are enough to learn what
its poses look like (self-supervised anomaly detection with geometric transformations, Golan and
El-Yaniv, NeurIPS 2018): a small classifier learns, on the task's training images only, which
symmetry of the image grid was applied to an image (the identity, the two mirrors, the half turn
and, for square images, the quarter turns and the two transposes). A sample of the task's domain
as it comes gets a high probability of "identity"; a sample mirrored or turned against that
domain does not. No unseen data is used anywhere: the score's threshold is the quantile of
held-out identity scores of the task's own images.

The quantile sets the price: about ``1 - quantile`` of a task's own new images are flagged by
this check. The default, 0.97, was chosen on ``bench/quality.py``'s digits (two seen domains,
mirrored digits as the unseen shift; seeds 0-6): unseen F1 on mirrored digits 0.90-0.94 (mean
0.92) where 0.995 gave 0.84-0.90, for about 3 % more seen images flagged. Many mirrored 8x8
digits (0, 1, 8) are genuinely ambiguous, so recall is bought with false alarms. Jobs that would
rather label fewer false alarms raise it (``pose_quantile`` parameter or ``SEDNA_LL_POSE_QUANTILE``).

The check is opt-in, because only images have poses: give the image shape (``image_shape``,
``(height, width)`` or ``(height, width, channels)``, the flat feature order being row-major)
to ``fit_task_statistics`` — LifelongLearning reads it from the unseen-sample-recognition step's
``image_shape`` parameter or from ``SEDNA_LL_IMAGE_SHAPE`` (``"8x8"``). The profile is stored in
the task group (``TaskGroup.orientation``) and both knowledge bases take the larger of their
distance score and this one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import features

__all__ = ["DEFAULT_POSE_QUANTILE", "IMAGE_SHAPE_ENV", "POSE_QUANTILE_ENV", "OrientationProfile",
           "fit_orientation_profile", "image_shape_from", "orientation_scores", "pose_quantile_from",
           "with_orientation"]

#: environment spelling of the image shape, ``"HxW"`` or ``"HxWxC"``
IMAGE_SHAPE_ENV = "SEDNA_LL_IMAGE_SHAPE"
#: environment spelling of the pose threshold's quantile
POSE_QUANTILE_ENV = "SEDNA_LL_POSE_QUANTILE"
#: quantile of held-out identity scores used as the threshold (see the module docstring)
DEFAULT_POSE_QUANTILE = 0.97


def pose_quantile_from(value: Any = None) -> float:
    """The pose threshold's quantile from a number or string, else the environment, else
    :data:`DEFAULT_POSE_QUANTILE`; must lie in (0.5, 1]."""
    if value is None or value == "":
        value = os.environ.get(POSE_QUANTILE_ENV) or DEFAULT_POSE_QUANTILE
    try:
        q = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"pose_quantile {value!r}: expected a number such as 0.97") from err
    if not 0.5 < q <= 1.0:
        raise ValueError(f"pose_quantile {value!r}: expected a quantile in (0.5, 1], e.g. 0.97")
    return q


def image_shape_from(value: Any = None) -> tuple[int, ...] | None:
    """``(h, w[, c])`` from a sequence, an ``"8x8"`` string, or (when None) the environment."""
    if value is None:
        value = os.environ.get(IMAGE_SHAPE_ENV) or None
    if value is None or value == "":
        return None
    if isinstance(value, str):
        parts: Sequence[Any] = [p for p in value.lower().replace(",", "x").split("x") if p.strip()]
    else:
        parts = list(value)
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError) as err:
        raise ValueError(f"image_shape {value!r}: expected HxW or HxWxC with whole numbers") from err
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"image_shape {value!r}: expected HxW or HxWxC with positive sizes")
    return shape


def _poses(images: np.ndarray) -> list[np.ndarray]:
    """The symmetries of the grid applied to ``images`` (n, h, w, c); identity first."""
    out = [images, images[:, :, ::-1], images[:, ::-1, :], images[:, ::-1, ::-1]]
    if images.shape[1] == images.shape[2]:
        t = images.transpose(0, 2, 1, 3)
        out += [t, t[:, ::-1, ::-1], t[:, :, ::-1], t[:, ::-1, :]]  # transposes and quarter turns
    return out


@dataclass
class OrientationProfile:
    """A task's pose classifier and its calibrated threshold (picklable; kept in the index)."""

    shape: tuple[int, ...]
    classifier: Any
    threshold: float

    def scores(self, X: np.ndarray) -> np.ndarray:
        """``-log p(identity)`` per sample over the threshold: > 1 means an unseen pose."""
        flat = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        proba = self.classifier.predict_proba(flat)[:, 0]
        return -np.log(np.clip(proba, 1e-12, 1.0)) / self.threshold


def _as_images(X: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape[0], shape[1]
    c = shape[2] if len(shape) == 3 else 1
    if X.shape[1] != h * w * c:
        raise ValueError(f"image_shape {shape} has {h * w * c} values, the task's samples have {X.shape[1]}")
    return X.reshape(len(X), h, w, c)


def _train(X: np.ndarray, shape: tuple[int, ...], seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    poses = _poses(_as_images(X, shape))
    data = np.concatenate([p.reshape(len(X), -1) for p in poses])
    labels = np.repeat(np.arange(len(poses)), len(X))
    # A small MLP: a linear model cannot tell a digit from its mirror image, and the training set
    # is the task's own images times the poses, so this fits in seconds on a CPU.
    return MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=200, random_state=seed).fit(data, labels)


def fit_orientation_profile(X: Any, image_shape: Any, *, quantile: float | None = None, folds: int = 3,
                            seed: int = 0) -> OrientationProfile:
    """Fit a task's pose classifier on its training images ``X`` (n, h*w*c).

    The threshold is the ``quantile`` (default: :func:`pose_quantile_from`) of identity scores of
    images held out of the fit (k-fold), so about ``1 - quantile`` of new images of the task's
    own domain score over 1.
    """
    quantile = pose_quantile_from(quantile)
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import KFold

    shape = image_shape_from(image_shape)
    if shape is None:
        raise ValueError("fit_orientation_profile needs image_shape")
    flat = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    _as_images(flat, shape)  # a wrong shape fails here, before any training
    held: list[np.ndarray] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if len(flat) >= 2 * folds:
            for train, test in KFold(folds, shuffle=True, random_state=seed).split(flat):
                clf = _train(flat[train], shape, seed)
                held.append(-np.log(np.clip(clf.predict_proba(flat[test])[:, 0], 1e-12, 1.0)))
        classifier = _train(flat, shape, seed)
    if not held:  # too few images to hold any out: the fitted model's own scores
        held.append(-np.log(np.clip(classifier.predict_proba(flat)[:, 0], 1e-12, 1.0)))
    threshold = float(max(np.quantile(np.concatenate(held), quantile), 1e-6))
    return OrientationProfile(shape=shape, classifier=classifier, threshold=threshold)


def orientation_scores(groups: Sequence[Any], X: Any, positions: np.ndarray) -> np.ndarray | None:
    """Per sample, the orientation score under the profile of the task group it was routed to
    (``positions``); None when no group has a profile (the check is off)."""
    profiles = [getattr(g, "orientation", None) for g in groups]
    if not any(p is not None for p in profiles):
        return None
    flat = np.asarray(X, dtype=np.float64).reshape(len(positions), -1)
    out = np.zeros(len(positions))
    for i, prof in enumerate(profiles):
        chosen = np.flatnonzero(positions == i)
        if prof is not None and len(chosen):
            out[chosen] = prof.scores(flat[chosen])
    return out


def with_orientation(task_index: Any, x: Any, positions: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``scores``, raised to each sample's orientation score where its task group has a profile
    (image tasks trained with ``image_shape``); unchanged otherwise."""
    groups = task_index.get("task_groups", []) if isinstance(task_index, dict) else []
    if len(scores) == 0 or not groups:
        return scores
    extra = orientation_scores(groups, features(x), positions)
    return scores if extra is None else np.maximum(scores, extra)
