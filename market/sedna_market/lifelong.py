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
from .search.stat_index import StatIndex
from .spec.kernels import gaussian_kernel
from .spec.rkme import RKMETableSpec, generate_rkme_table_spec
from .spec.semantic import SemanticSpec, generate_semantic_spec
from .status import CheckStatus


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
    ) -> str:
        """Store ``model`` (an object with ``predict``, or a path to a package zip) for the task whose
        training inputs are ``X_train``; returns the task id."""
        X = np.asarray(X_train, dtype=np.float64).reshape(len(X_train), -1)
        spec = generate_rkme_table_spec(X, gamma=self.gamma, reduced_set_size=self.reduced_set_size)
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
        d_own = self._point_dists(X, [spec])[:, 0]
        with self._lock:
            self._thresholds[tid] = float(np.quantile(d_own, self.quantile)) * self.margin
            if obj is not None:
                self._models[tid] = obj
        return tid

    def remove_task(self, task_id: str) -> bool:
        """Delete a task model."""
        with self._lock:
            self._thresholds.pop(task_id, None)
            self._models.pop(task_id, None)
        return self.market.delete(task_id)

    def _point_dists(self, X: np.ndarray, specs: list[RKMETableSpec]) -> np.ndarray:
        idx = StatIndex((str(i), s) for i, s in enumerate(specs))
        return self._dists_with_index(X, idx)[1]

    def _dists_with_index(self, X: np.ndarray, idx: StatIndex) -> tuple[list[str], np.ndarray]:
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        group = idx.groups.get((X.shape[1],))
        if group is None:
            return [], np.empty((len(X), 0))
        # f_i(x) for every sample and task: one kernel block and a segmented sum over tasks
        K = gaussian_kernel(X, group.Z, self.gamma) * group.beta[None, :]
        f = np.add.reduceat(K, group.offsets, axis=1)
        d = 1.0 - 2.0 * f + group.self_terms(self.gamma)[None, :]
        return group.ids, d

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
