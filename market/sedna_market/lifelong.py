"""Small API for the lifelong-learning SDK: task models, sample allocation, unseen-task detection.

Usage::

    tm = TaskMarket()                                  # in-memory; or TaskMarket(db_url, storage_dir)
    tid = tm.add_task_model(model, X_train_of_task)    # RKME spec + calibrated unseen profile
    task_ids, scores = tm.allocate(X)                  # nearest task per sample
    unseen = tm.detect_unseen(X)                       # True where no known task fits
    y = tm.predict(X)                                  # each sample through its task's model

Every task carries an *unseen profile* (:mod:`sedna_market.unseen`), computed from its training
samples when it is added and stored in its package (``unseen_profile.json``): per-task
standardisation, a per-task kernel width and an RKME of the standardised samples, whose score
``-log f(x)`` is a monotone function of the squared MMD between the sample's point mass and the
task's embedding, and a threshold calibrated on held-out (cross-fitted) samples of the task.
A sample goes to the task of lowest ``score / threshold`` and is unseen when that value is above 1.

The task's plain RKME spec (one ``gamma`` for every task of the market) is still stored for the
market's statistical search.  :func:`point_distances` and :func:`calibrate_threshold` keep the
earlier rule (squared MMD under that shared kernel, threshold ``margin`` x the ``quantile`` of
the training samples' own distances): :class:`TaskMarket` falls back to it when a task has no
profile, and the SDK for indexes written before profiles existed.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .market import Market
from .organizer import DONE, Organizer
from .package import build_pickle_package
from .search.stat_index import DimGroup, StatIndex
from .spec.kernels import gaussian_kernel
from .spec.rkme import RKMETableSpec, generate_rkme_table_spec
from .spec.semantic import SemanticSpec, generate_semantic_spec
from .status import CheckStatus
from .unseen import (
    DEFAULT_FOLDS,
    DEFAULT_GAMMA_SCALE,
    DEFAULT_MARGIN,
    DEFAULT_QUANTILE,
    DEFAULT_SCALE_FLOOR,
    PROFILE_FILE,
    UnseenProfile,
    add_profile_to_package,
    fit_unseen_profile,
    profile_from_package,
)


def point_distances(X: np.ndarray, group: DimGroup, gamma: float) -> np.ndarray:
    """``(n_samples, n_tasks)`` squared MMDs between each sample's point mass and each task of
    ``group``: one kernel block over all reduced points and a segmented sum per task."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    K = gaussian_kernel(X, group.Z, gamma)
    K *= group.beta[None, :]
    f = np.add.reduceat(K, group.offsets, axis=1)
    return 1.0 - 2.0 * f + group.self_terms(gamma)[None, :]


def calibrate_threshold(X: np.ndarray, spec: RKMETableSpec, quantile: float = 0.99, margin: float = 1.1) -> float:
    """Unseen threshold of a task: ``margin`` x the ``quantile`` of its own training samples'
    distances to its spec (computed where the training data is; only the number leaves)."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    group = StatIndex([("task", spec)]).group_for(spec)
    assert group is not None
    d_own = point_distances(X, group, spec.gamma)[:, 0]
    return float(np.quantile(d_own, quantile)) * margin


class TaskMarket:
    """Task models of one lifelong-learning job, backed by a market (SQLite file or in memory).

    ``quantile``, ``margin``, ``folds``, ``scale_floor`` and ``gamma_scale`` are the unseen
    profile's calibration settings (see :func:`sedna_market.unseen.fit_unseen_profile`)."""

    def __init__(
        self,
        db_url: str = "sqlite://",
        storage_dir: str | Path | None = None,
        gamma: float = 0.1,
        reduced_set_size: int = 50,
        quantile: float = DEFAULT_QUANTILE,
        margin: float = DEFAULT_MARGIN,
        folds: int = DEFAULT_FOLDS,
        scale_floor: float = DEFAULT_SCALE_FLOOR,
        gamma_scale: float = DEFAULT_GAMMA_SCALE,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="taskmarket-") if storage_dir is None else None
        self.market = Market(Organizer(db_url, storage_dir or self._tmp.name), run_stat_check=False)  # type: ignore[union-attr]
        self.gamma = gamma
        self.reduced_set_size = reduced_set_size
        self.quantile = quantile
        self.margin = margin
        self.folds = folds
        self.scale_floor = scale_floor
        self.gamma_scale = gamma_scale
        self._thresholds: dict[str, float] = {}
        self._profiles: dict[str, UnseenProfile | None] = {}
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def task_ids(self) -> list[str]:
        """Ids of the stored task models."""
        return [r.id for r in self.market.organizer.list(searchable_only=True)]

    def fit_profile(self, X_train: np.ndarray) -> UnseenProfile:
        """The unseen profile of a task with this market's calibration settings."""
        return fit_unseen_profile(X_train, self.quantile, self.margin, self.folds, self.reduced_set_size,
                                  self.scale_floor, self.gamma_scale)

    def add_task_model(
        self,
        model: Any,
        X_train: np.ndarray,
        semantic: SemanticSpec | dict[str, Any] | None = None,
        task_id: str | None = None,
        spec: RKMETableSpec | None = None,
        profile: UnseenProfile | None = None,
    ) -> str:
        """Store ``model`` (an object with ``predict``, or a path to a package zip) for the task whose
        training inputs are ``X_train``; returns the task id.  ``spec``: the task's RKME when the
        caller already computed it from ``X_train`` (its gamma must be this market's); ``profile``:
        its unseen profile, likewise (else calibrated here).  The profile goes into the package."""
        X = np.asarray(X_train, dtype=np.float64).reshape(len(X_train), -1)
        if spec is None:
            spec = generate_rkme_table_spec(X, gamma=self.gamma, reduced_set_size=self.reduced_set_size)
        elif spec.gamma != self.gamma:
            raise ValueError(f"spec gamma {spec.gamma} differs from the market's {self.gamma}")
        if profile is None:
            profile = self.fit_profile(X)
        elif profile.dim != X.shape[1]:
            raise ValueError(f"profile has {profile.dim} features, the task {X.shape[1]}")
        if isinstance(semantic, dict):
            semantic = SemanticSpec.from_dict(semantic)
        sem = semantic or generate_semantic_spec(
            name=f"task-{task_id or 'model'}",
            description="lifelong learning task model",
            data_type="Table",
            task_type="Others",
            library_type="Others",
            scenarios=["Others"],
            input_description={"Dimension": X.shape[1], "Description": {}},
        )
        if isinstance(model, str | Path):
            package: bytes = add_profile_to_package(Path(model).read_bytes(), profile)
            obj = None
        else:
            package = build_pickle_package(model, spec, (X.shape[1],), None, sem,
                                           extra_files={PROFILE_FILE: profile.to_json()})
            obj = model
        org = self.market.organizer
        tid = org.add(package, sem, spec, CheckStatus.NONUSABLE, DONE, "added by lifelong learning", task_id)
        with self._lock:
            self._profiles[tid] = profile
            self._thresholds.pop(tid, None)
            if obj is not None:
                self._models[tid] = obj
        return tid

    def remove_task(self, task_id: str) -> bool:
        """Delete a task model."""
        with self._lock:
            self._thresholds.pop(task_id, None)
            self._profiles.pop(task_id, None)
            self._models.pop(task_id, None)
        return self.market.delete(task_id)

    def profile(self, task_id: str) -> UnseenProfile | None:
        """The task's unseen profile (read back from its package after a restart; None for a
        task stored without one)."""
        with self._lock:
            if task_id in self._profiles:
                return self._profiles[task_id]
        data = self.market.organizer.package_bytes(task_id)
        prof = profile_from_package(data) if data is not None else None
        with self._lock:
            self._profiles[task_id] = prof
        return prof

    def threshold(self, task_id: str) -> float | None:
        """The task's unseen threshold: its profile's (on the profile score), else one set with
        :meth:`set_threshold` (on the squared MMD); None when unknown."""
        prof = self.profile(task_id)
        if prof is not None:
            return prof.threshold
        with self._lock:
            return self._thresholds.get(task_id)

    def set_threshold(self, task_id: str, value: float) -> None:
        """Override a task's threshold (in memory): its profile's when it has one, else the
        squared-MMD threshold of the earlier rule."""
        prof = self.profile(task_id)
        with self._lock:
            if prof is not None:
                self._profiles[task_id] = prof.with_threshold(value)
            else:
                self._thresholds[task_id] = float(value)

    def spec(self, task_id: str) -> RKMETableSpec | None:
        """The RKME spec stored for a task."""
        rec = self.market.organizer.get(task_id)
        return rec.stat_spec if rec is not None else None

    def _dists_with_index(self, X: np.ndarray, idx: StatIndex) -> tuple[list[str], np.ndarray]:
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        group = idx.groups.get((X.shape[1],))
        if group is None:
            return [], np.empty((len(X), 0))
        return group.ids, point_distances(X, group, self.gamma)

    def distances(self, X: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Task ids and the ``(n_samples, n_tasks)`` matrix of per-sample squared MMDs (under the
        market's shared kernel)."""
        return self._dists_with_index(X, self.market.organizer.index())

    def scores(self, X: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Task ids and the ``(n_samples, n_tasks)`` matrix of normalised unseen scores (> 1:
        unseen for that task): ``score / threshold`` of each task's profile; for a task stored
        without one, ``squared MMD / threshold`` (inf while no threshold is known)."""
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        idx = self.market.organizer.index()
        group = idx.groups.get((X.shape[1],))
        if group is None:
            return [], np.empty((len(X), 0))
        ids = list(group.ids)
        profiles = [self.profile(t) for t in ids]
        out = np.empty((len(X), len(ids)))
        legacy = [j for j, p in enumerate(profiles) if p is None]
        for j, prof in enumerate(profiles):
            if prof is not None:
                out[:, j] = prof.normalised(X)
        if legacy:
            dist = point_distances(X, group, self.gamma)
            with self._lock:
                thr = {j: self._thresholds.get(ids[j]) for j in legacy}
            for j in legacy:
                t = thr[j]
                out[:, j] = dist[:, j] / t if t is not None and t > 0 else np.inf
        return ids, out

    def allocate(self, X: np.ndarray) -> tuple[list[str | None], np.ndarray]:
        """Nearest task id for each sample (lowest normalised score) and that score (None/inf with
        no tasks)."""
        ids, score = self.scores(X)
        if not ids:
            return [None] * len(X), np.full(len(X), np.inf)
        best = score.argmin(axis=1)
        return [ids[i] for i in best], score[np.arange(len(X)), best]

    def detect_unseen(self, X: np.ndarray) -> np.ndarray:
        """Boolean mask: True where the sample's normalised score for its nearest task is above 1
        (the task's calibrated threshold)."""
        _, score = self.allocate(X)
        return score > 1.0

    def model(self, task_id: str) -> Any:
        """The model object of a task (loaded from its package when not added in this process)."""
        with self._lock:
            if task_id not in self._models:
                from .loader import load_model

                pdir = self.market.organizer.package_dir(task_id)
                if pdir is None:
                    raise KeyError(task_id)
                self._models[task_id] = load_model(pdir)
            return self._models[task_id]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predict each sample with the model of its allocated task."""
        X = np.asarray(X)
        tasks, _ = self.allocate(X)
        if not tasks or tasks[0] is None:
            raise RuntimeError("no task models")
        out: np.ndarray | None = None
        arr = np.array(tasks, dtype=object)
        for tid in dict.fromkeys(tasks):
            mask = arr == tid
            pred = np.asarray(self.model(str(tid)).predict(X[mask]))
            if out is None:
                out = np.zeros((len(X), *pred.shape[1:]), dtype=pred.dtype)
            out[mask] = pred
        assert out is not None
        return out
