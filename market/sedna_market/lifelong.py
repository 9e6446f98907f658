"""Small API for the lifelong-learning SDK: task models, sample allocation, unseen-task detection.

Usage::

    tm = TaskMarket()                                  # in-memory; or TaskMarket(db_url, storage_dir)
    tid = tm.add_task_model(model, X_train_of_task)    # RKME of the task's training inputs
    task_ids, dists = tm.allocate(X)                   # nearest task per sample
    unseen = tm.detect_unseen(X)                       # True where no known task fits
    y = tm.predict(X)                                  # each sample through its task's model

Per-sample distance to task ``i`` is the squared MMD between the sample's point mass and the
task's embedding: ``k(x,x) - 2 f_i(x) + <Phi_i,Phi_i> = 1 - 2 f_i(x) + s_i``.  All tasks' reduced
sets are stacked (the market's :class:`StatIndex`), so allocation is one kernel block for all
samples and tasks.  A sample is unseen when its distance to the nearest task exceeds that task's
threshold, the ``quantile`` of the training samples' distances to their own task times ``margin``.

:func:`point_distances` and :func:`calibrate_threshold` are the same math as pure functions, so a
client that holds task specs fetched from a remote market (the SDK's ``MarketKnowledgeBase``)
computes exactly what an in-process :class:`TaskMarket` does.
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
    """Task models of one lifelong-learning job, backed by a market (SQLite file or in memory)."""

    def __init__(
        self,
        db_url: str = "sqlite://",
        storage_dir: str | Path | None = None,
        gamma: float = 0.1,
        reduced_set_size: int = 50,
        quantile: float = 0.99,
        margin: float = 1.1,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="taskmarket-") if storage_dir is None else None
        self.market = Market(Organizer(db_url, storage_dir or self._tmp.name), run_stat_check=False)  # type: ignore[union-attr]
        self.gamma = gamma
        self.reduced_set_size = reduced_set_size
        self.quantile = quantile
        self.margin = margin
        self._thresholds: dict[str, float] = {}
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def task_ids(self) -> list[str]:
        """Ids of the stored task models."""
        return [r.id for r in self.market.organizer.list(searchable_only=True)]

    def add_task_model(
        self,
        model: Any,
        X_train: np.ndarray,
        semantic: SemanticSpec | dict[str, Any] | None = None,
        task_id: str | None = None,
        spec: RKMETableSpec | None = None,
    ) -> str:
        """Store ``model`` (an object with ``predict``, or a path to a package zip) for the task whose
        training inputs are ``X_train``; returns the task id.  ``spec``: the task's RKME when the
        caller already computed it from ``X_train`` (its gamma must be this market's)."""
        X = np.asarray(X_train, dtype=np.float64).reshape(len(X_train), -1)
        if spec is None:
            spec = generate_rkme_table_spec(X, gamma=self.gamma, reduced_set_size=self.reduced_set_size)
        elif spec.gamma != self.gamma:
            raise ValueError(f"spec gamma {spec.gamma} differs from the market's {self.gamma}")
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
            package: bytes = Path(model).read_bytes()
            obj = None
        else:
            package = build_pickle_package(model, spec, (X.shape[1],), None, sem)
            obj = model
        org = self.market.organizer
        tid = org.add(package, sem, spec, CheckStatus.NONUSABLE, DONE, "added by lifelong learning", task_id)
        # threshold from the training data itself: how far this task's own samples lie from it
        thr = calibrate_threshold(X, spec, self.quantile, self.margin)
        with self._lock:
            self._thresholds[tid] = thr
            if obj is not None:
                self._models[tid] = obj
        return tid

    def remove_task(self, task_id: str) -> bool:
        """Delete a task model."""
        with self._lock:
            self._thresholds.pop(task_id, None)
            self._models.pop(task_id, None)
        return self.market.delete(task_id)

    def threshold(self, task_id: str) -> float | None:
        """The calibrated unseen threshold of a task (None when unknown, e.g. after a restart)."""
        with self._lock:
            return self._thresholds.get(task_id)

    def set_threshold(self, task_id: str, value: float) -> None:
        """Restore a threshold kept elsewhere (thresholds live in memory, not in the market)."""
        with self._lock:
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
        """Task ids and the ``(n_samples, n_tasks)`` matrix of per-sample squared MMDs."""
        return self._dists_with_index(X, self.market.organizer.index())

    def allocate(self, X: np.ndarray) -> tuple[list[str | None], np.ndarray]:
        """Nearest task id for each sample and the distance to it (None/inf with no tasks)."""
        ids, d = self.distances(X)
        if not ids:
            return [None] * len(X), np.full(len(X), np.inf)
        best = d.argmin(axis=1)
        return [ids[i] for i in best], d[np.arange(len(X)), best]

    def detect_unseen(self, X: np.ndarray) -> np.ndarray:
        """Boolean mask: True where the sample is farther from its nearest task than that task's
        calibrated threshold."""
        tasks, dist = self.allocate(X)
        thr = np.array([self._thresholds.get(t, -np.inf) if t is not None else -np.inf for t in tasks])
        return dist > thr

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
