"""Per-task unseen-sample detector with a calibrated threshold (an *unseen profile*).

A task's profile is computed where its training data is, stored with the task (the package file
``unseen_profile.json``, and the SDK's index), and scores new samples without the data:

* **per-task standardisation**: ``x~ = (x - center) / scale`` with the task's per-feature mean and
  standard deviation; ``scale`` is floored at ``scale_floor`` x the task's mean feature std, so a
  feature that is (nearly) constant in the task, e.g. an always-blank border pixel, still counts
  without dividing by zero.  Shifts that shrink or move the variance of such features (low
  contrast, a grey background, sensor noise) move the sample by many task standard deviations;
  with one kernel width for all features they would barely move it.
* **per-task kernel width**: ``gamma = gamma_scale / m`` with ``m`` the median squared distance
  between the task's standardised samples (the median heuristic, sharpened by ``gamma_scale``).
* **score**: the RKME of the standardised samples (reduced set ``z``, weights ``beta``) gives
  ``f(x) = sum_j beta_j exp(-gamma ||x~ - z_j||^2)``; the score is ``-log f(x)``, computed with a
  log-sum-exp so that it never saturates.  The squared MMD between the sample's point mass and the
  task's embedding is ``1 - 2 f(x) + <Phi, Phi>``: the score is a monotone function of it (same
  ranking, same per-task decisions), but far samples keep distinct, growing values instead of
  all reading ``1 + <Phi, Phi>`` once ``f`` underflows.  ``beta`` lies on the simplex, so ``f <= 1``
  and the score is ``>= 0``.
* **calibrated threshold**: the samples are split into ``folds`` parts; each part is scored by a
  profile fitted (standardisation, width, reduced set) on the other parts, so every training
  sample gets a *held-out* score.  ``threshold = margin x quantile(held-out scores, quantile)``:
  with ``margin = 1`` about ``1 - quantile`` of the task's own new samples are flagged.

``normalised(X) = score / threshold``: above 1 means unseen; the nearest task of a sample is the
one of lowest normalised score.  The profile holds per-feature means and deviations and a reduced
set of standardised points: the same kind of summary as the RKME spec, never the raw samples.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .spec.kernels import sq_dists
from .spec.parsing import as_object, count, finite_array, finite_float, load_json_object
from .spec.rkme import RKMETableSpec, clean_data, generate_rkme_table_spec

PROFILE_FILE = "unseen_profile.json"

log = logging.getLogger(__name__)

PROFILE_TYPE = "UnseenProfile"

#: defaults (the SDK's ``kb_unseen_*`` parameters override them)
DEFAULT_QUANTILE = 0.99
DEFAULT_MARGIN = 1.0
DEFAULT_FOLDS = 5
DEFAULT_SCALE_FLOOR = 0.2
DEFAULT_GAMMA_SCALE = 8.0
#: rows used for the median-heuristic distance (a fixed subsample beyond this)
MEDIAN_ROWS = 1000
_TINY = 1e-12


@dataclass(frozen=True)
class UnseenProfile:
    """Detector of one task: standardisation, standardised RKME, calibrated threshold."""

    center: np.ndarray
    scale: np.ndarray
    spec: RKMETableSpec
    threshold: float
    quantile: float = DEFAULT_QUANTILE
    margin: float = DEFAULT_MARGIN
    folds: int = DEFAULT_FOLDS
    scale_floor: float = DEFAULT_SCALE_FLOOR
    gamma_scale: float = DEFAULT_GAMMA_SCALE
    num_points: int = 0
    #: summary of the held-out scores the threshold came from (median, quantile, max, n)
    held_out: dict[str, float] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """Flattened feature dimension."""
        return int(self.center.shape[0])

    @property
    def gamma(self) -> float:
        """Kernel width in standardised coordinates."""
        return self.spec.gamma

    def standardise(self, X: Any) -> np.ndarray:
        """``(X - center) / scale`` as ``(n, d)``; non-finite entries count as the task's mean."""
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        if X.shape[1] != self.dim:
            raise ValueError(f"samples have {X.shape[1]} features, the profile {self.dim}")
        X = np.where(np.isfinite(X), X, self.center[None, :])
        return (X - self.center[None, :]) / self.scale[None, :]

    def scores(self, X: Any) -> np.ndarray:
        """``-log f(x)`` per sample (``>= 0``; larger is farther from the task)."""
        return _neg_log_embedding(self.standardise(X), self.spec)

    def normalised(self, X: Any) -> np.ndarray:
        """``score / threshold`` per sample: above 1 means unseen for this task."""
        return self.scores(X) / max(self.threshold, _TINY)

    def with_threshold(self, value: float) -> UnseenProfile:
        """The same detector with another threshold."""
        return replace(self, threshold=float(value))

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the content of ``unseen_profile.json``)."""
        return {
            "type": PROFILE_TYPE,
            "version": 1,
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "spec": self.spec.to_dict(),
            "threshold": self.threshold,
            "quantile": self.quantile,
            "margin": self.margin,
            "folds": self.folds,
            "scale_floor": self.scale_floor,
            "gamma_scale": self.gamma_scale,
            "num_points": self.num_points,
            "held_out": dict(self.held_out),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = PROFILE_FILE) -> UnseenProfile:
        """Parse :meth:`to_dict`'s form (untrusted: it comes from a package); rejects other types,
        missing fields and non-finite or overflowing numbers with a ``ValueError`` naming them."""
        data = as_object(data, where)
        if data.get("type", PROFILE_TYPE) != PROFILE_TYPE:
            raise ValueError(f"not an unseen profile: {str(data.get('type'))[:60]!r}")
        missing = [k for k in ("center", "scale", "spec", "threshold") if k not in data]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)}")
        center = finite_array(data["center"], "center").reshape(-1)
        scale = finite_array(data["scale"], "scale").reshape(-1)
        spec = RKMETableSpec.from_dict(data["spec"], "spec")
        threshold = finite_float(data["threshold"], "threshold")
        if center.shape != scale.shape or spec.dim != center.shape[0]:
            raise ValueError("unseen profile: center, scale and reduced set differ in dimension")
        if not np.all(scale > 0):
            raise ValueError("unseen profile: scale must be positive")
        if threshold < 0:
            raise ValueError("unseen profile: threshold must be >= 0")
        held_out = as_object(data.get("held_out") or {}, "held_out")
        return cls(
            center=center,
            scale=scale,
            spec=spec,
            threshold=threshold,
            quantile=finite_float(data.get("quantile", DEFAULT_QUANTILE), "quantile"),
            margin=finite_float(data.get("margin", DEFAULT_MARGIN), "margin"),
            folds=count(data.get("folds", DEFAULT_FOLDS), "folds"),
            scale_floor=finite_float(data.get("scale_floor", DEFAULT_SCALE_FLOOR), "scale_floor"),
            gamma_scale=finite_float(data.get("gamma_scale", DEFAULT_GAMMA_SCALE), "gamma_scale"),
            num_points=count(data.get("num_points", 0), "num_points"),
            held_out={str(k): finite_float(v, f"held_out.{k}") for k, v in held_out.items()},
        )

    def to_json(self) -> str:
        """JSON text."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes, where: str = PROFILE_FILE) -> UnseenProfile:
        """Parse untrusted JSON text (see :func:`~sedna_market.spec.parsing.load_json`)."""
        return cls.from_dict(load_json_object(text, where), where)


def _neg_log_embedding(Xs: np.ndarray, spec: RKMETableSpec) -> np.ndarray:
    """``-log sum_j beta_j exp(-gamma ||x - z_j||^2)`` per row, stable for far rows."""
    if len(Xs) == 0:
        return np.zeros(0)
    with np.errstate(divide="ignore"):
        log_beta = np.log(np.clip(spec.beta, 0.0, None))
    a = log_beta[None, :] - spec.gamma * sq_dists(Xs, spec.z2d)
    top = a.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    lse = top + np.log(np.exp(a - top[:, None]).sum(axis=1))
    return np.maximum(-lse, 0.0)


def _standardisation(X: np.ndarray, scale_floor: float) -> tuple[np.ndarray, np.ndarray]:
    center = X.mean(axis=0)
    std = X.std(axis=0)
    floor = float(scale_floor) * float(std.mean())
    if not floor > 0:  # constant data (or scale_floor 0 with constant features): unit scale
        floor = 1.0 if not np.any(std > 0) else float(std[std > 0].min())
    return center, np.maximum(std, floor)


def _median_sq_distance(Xs: np.ndarray, rng: np.random.Generator) -> float:
    if len(Xs) > MEDIAN_ROWS:
        Xs = Xs[rng.choice(len(Xs), MEDIAN_ROWS, replace=False)]
    if len(Xs) < 2:
        return float(Xs.shape[1])
    d = sq_dists(Xs, Xs)[np.triu_indices(len(Xs), 1)]
    med = float(np.median(d))
    if med <= 0:  # mostly duplicates: the mean still sees the spread, else the dimension
        med = float(d.mean()) if d.mean() > 0 else float(Xs.shape[1])
    return med


def _fit_detector(X: np.ndarray, reduced_set_size: int, scale_floor: float, gamma_scale: float,
                  random_state: int) -> tuple[np.ndarray, np.ndarray, RKMETableSpec]:
    center, scale = _standardisation(X, scale_floor)
    Xs = (X - center) / scale
    gamma = float(gamma_scale) / _median_sq_distance(Xs, np.random.default_rng(random_state))
    spec = generate_rkme_table_spec(Xs, gamma=gamma, reduced_set_size=reduced_set_size,
                                    random_state=random_state)
    return center, scale, spec


def held_out_scores(
    X: Any,
    folds: int = DEFAULT_FOLDS,
    reduced_set_size: int = 50,
    scale_floor: float = DEFAULT_SCALE_FLOOR,
    gamma_scale: float = DEFAULT_GAMMA_SCALE,
    random_state: int = 0,
) -> np.ndarray:
    """Score of every sample by a detector fitted without its fold (``folds``-fold cross-fitting);
    with fewer than 2 samples per fold side, the in-sample scores."""
    X = clean_data(np.asarray(X, dtype=np.float64).reshape(len(X), -1))
    n = len(X)
    k = min(int(folds), n // 2)
    if k < 2:
        center, scale, spec = _fit_detector(X, reduced_set_size, scale_floor, gamma_scale, random_state)
        return _neg_log_embedding((X - center) / scale, spec)
    order = np.random.default_rng(random_state).permutation(n)
    out = np.empty(n)
    for part in np.array_split(order, k):
        rest = np.setdiff1d(order, part)
        center, scale, spec = _fit_detector(X[rest], reduced_set_size, scale_floor, gamma_scale, random_state)
        out[part] = _neg_log_embedding((X[part] - center) / scale, spec)
    return out


def fit_unseen_profile(
    X: Any,
    quantile: float = DEFAULT_QUANTILE,
    margin: float = DEFAULT_MARGIN,
    folds: int = DEFAULT_FOLDS,
    reduced_set_size: int = 50,
    scale_floor: float = DEFAULT_SCALE_FLOOR,
    gamma_scale: float = DEFAULT_GAMMA_SCALE,
    random_state: int = 0,
) -> UnseenProfile:
    """The unseen profile of a task whose samples are ``X`` (``(n, d)`` or ``(n, *shape)``)."""
    if not 0.0 < float(quantile) <= 1.0:
        raise ValueError("quantile must be in (0, 1]")
    if float(margin) <= 0 or float(gamma_scale) <= 0 or float(scale_floor) < 0:
        raise ValueError("margin and gamma_scale must be positive, scale_floor non-negative")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if len(X) == 0:
        raise ValueError("cannot calibrate an unseen profile without samples")
    X = clean_data(X.reshape(len(X), -1))
    center, scale, spec = _fit_detector(X, reduced_set_size, scale_floor, gamma_scale, random_state)
    held = held_out_scores(X, folds, reduced_set_size, scale_floor, gamma_scale, random_state)
    q = float(np.quantile(held, quantile))
    return UnseenProfile(
        center=center,
        scale=scale,
        spec=spec,
        threshold=q * float(margin),
        quantile=float(quantile),
        margin=float(margin),
        folds=int(folds),
        scale_floor=float(scale_floor),
        gamma_scale=float(gamma_scale),
        num_points=len(X),
        held_out={"median": float(np.median(held)), "quantile": q, "max": float(held.max()),
                  "n": float(len(held))},
    )


def profile_scores(X: Any, profiles: Sequence[UnseenProfile]) -> np.ndarray:
    """``(n_samples, n_tasks)`` normalised scores (``score / threshold``) of each sample for each
    task; a sample is unseen when its lowest normalised score is above 1."""
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(len(X), -1)
    if not profiles:
        return np.empty((len(X), 0))
    return np.stack([p.normalised(X) for p in profiles], axis=1)


def profile_from_package(data: bytes) -> UnseenProfile | None:
    """The profile stored in a package zip (``unseen_profile.json``, also inside a wrapping
    folder), or None when the package has none."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n == PROFILE_FILE or n.endswith("/" + PROFILE_FILE)]
            if not names:
                return None
            name = min(names, key=len)
            return UnseenProfile.from_json(zf.read(name), name)
    except (zipfile.BadZipFile, KeyError):
        return None
    except ValueError as exc:  # a broken profile is no profile: the task falls back to its threshold
        log.warning("ignoring the package's unseen profile: %s", exc)
        return None


def add_profile_to_package(data: bytes, profile: UnseenProfile) -> bytes:
    """A copy of a package zip with ``unseen_profile.json`` (replacing an older one)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != PROFILE_FILE:
                dst.writestr(info, src.read(info.filename))
        dst.writestr(PROFILE_FILE, profile.to_json())
    return buf.getvalue()


__all__ = [
    "PROFILE_FILE",
    "UnseenProfile",
    "add_profile_to_package",
    "fit_unseen_profile",
    "held_out_scores",
    "profile_from_package",
    "profile_scores",
]
