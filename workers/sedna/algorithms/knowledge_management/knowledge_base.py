"""The knowledge base behind lifelong learning, as a small interface.

:class:`LocalKnowledgeBase` keeps the task index in ``<output>/index.pkl`` (Sedna's file
name); a model-market client can implement the same :class:`KnowledgeBase` protocol later.

Unseen-sample rule used by :meth:`LocalKnowledgeBase.nearest_task` (documented, exact):
each task group ``g`` keeps the per-feature mean ``c_g`` and standard deviation ``s_g`` of its
training features, where ``s_g`` is floored at ``0.1 x`` the feature's std over all training
data (so a feature that is constant in the task, e.g. an always-blank pixel, still counts, but
without dividing by zero). ``z_g(x) = (x - c_g) / s_g``; the radius ``r_g`` is the ``quantile``
(default 0.95) of ``||z_g||`` over the group's training samples. For a sample, the score of
group ``g`` is ``||z_g(x)|| / (factor * r_g)`` (``factor`` default 1.5); the nearest task is the
group of lowest score, and the sample is *unseen* when that lowest score is above 1.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import TaskGroup, features

__all__ = ["KnowledgeBase", "LocalKnowledgeBase", "fit_task_statistics", "INDEX_FILE"]

INDEX_FILE = "index.pkl"


@runtime_checkable
class KnowledgeBase(Protocol):
    """What lifelong learning needs from a knowledge base."""

    def save_index(self, index: dict[str, Any], name: str = INDEX_FILE) -> str: ...

    def load_index(self, url: str | None = None) -> dict[str, Any]: ...

    def add_task_model(self, group: TaskGroup, model_url: str) -> None: ...

    def nearest_task(self, x: Any, index: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]: ...


def fit_task_statistics(groups: list[TaskGroup], quantile: float = 0.95,
                        image_shape: Any = None, pose_quantile: float | None = None) -> dict[str, Any]:
    """Compute the feature scale and each group's centroid/radius (in place); returns the scale.

    With ``image_shape`` (the tasks' samples are images, flattened row-major), each group also
    gets an orientation profile (:mod:`sedna.algorithms.unseen_task_detection.orientation`), so a
    sample shown mirrored or turned against its task is recognised as unseen; ``pose_quantile``
    sets its threshold (None: ``SEDNA_LL_POSE_QUANTILE``, else 0.97)."""
    mats = [features(g.samples.x if hasattr(g.samples, "x") else g.samples) for g in groups if g.samples is not None]
    if not mats:
        return {}
    allx = np.concatenate(mats)
    floor = np.maximum(0.1 * allx.std(0), 1e-6)
    for g in groups:
        if g.samples is None:
            continue
        fx = features(g.samples.x if hasattr(g.samples, "x") else g.samples)
        g.centroid = fx.mean(0)
        g.scale = np.maximum(fx.std(0), floor)
        dist = np.linalg.norm((fx - g.centroid) / g.scale, axis=1)
        g.radius = float(max(np.quantile(dist, quantile), 1e-6))
        if image_shape is not None:
            from sedna.algorithms.unseen_task_detection.orientation import fit_orientation_profile

            g.orientation = fit_orientation_profile(fx, image_shape, quantile=pose_quantile)
    return {"floor": floor, "quantile": quantile}


class LocalKnowledgeBase:
    """Index in a directory (``OUTPUT_URL``): local, or remote (an s3 ``outputDir``: the index is
    uploaded and downloaded through FileOps with the worker's S3 credentials)."""

    def __init__(self, root: str | os.PathLike[str], factor: float = 1.5) -> None:
        from sedna.common.file_ops import FileOps

        self.remote = FileOps.is_remote(str(root))
        self.url = str(root).rstrip("/")
        self.root = Path(tempfile.mkdtemp(prefix="sedna-kb-")) if self.remote else Path(root)
        self.factor = float(factor)
        self.index: dict[str, Any] | None = None
        self.models: dict[str, str] = {}

    def save_index(self, index: dict[str, Any], name: str = INDEX_FILE) -> str:
        if self.remote:
            from sedna.common.file_ops import FileOps

            local = self._save_local(index, name)
            return FileOps.upload(local, FileOps.join_path(self.url, name))
        return self._save_local(index, name)

    def _save_local(self, index: dict[str, Any], name: str) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(index, fh)
        tmp.replace(path)  # readers never see a half-written index
        self.index = index
        return str(path)

    def load_index(self, url: str | None = None) -> dict[str, Any]:
        from sedna.common.file_ops import FileOps

        if self.remote and not url:
            url = FileOps.join_path(self.url, INDEX_FILE)
        if url and FileOps.is_remote(url):
            url = FileOps.download(url)
        path = Path(url) if url else self.root / INDEX_FILE
        if path.is_dir():
            path = path / INDEX_FILE
        with path.open("rb") as fh:
            self.index = pickle.load(fh)
        return self.index

    def add_task_model(self, group: TaskGroup, model_url: str) -> None:
        self.models[group.entry] = model_url

    def nearest_task(self, x: Any, index: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per sample: (index of the nearest task group, its score; > 1 means unseen)."""
        index = index or self.index or {}
        groups: list[TaskGroup] = index.get("task_groups", [])
        factor = float(index.get("unseen_factor", self.factor))
        usable = [(i, g) for i, g in enumerate(groups) if g.centroid is not None and g.radius]
        feats = features(x)
        if not usable or len(feats) == 0:
            return np.zeros(len(feats), dtype=int), np.zeros(len(feats))
        cents = np.stack([g.centroid for _, g in usable])  # (G, d)
        scales = np.stack([g.scale if g.scale is not None else np.ones_like(g.centroid) for _, g in usable])
        radii = np.array([g.radius for _, g in usable])
        # (n, G): one vectorised pass over every sample and task
        dist = np.sqrt((((feats[:, None, :] - cents[None, :, :]) / scales[None, :, :]) ** 2).sum(-1))
        score = dist / (factor * radii[None, :])
        best = score.argmin(1)
        return np.array([usable[j][0] for j in best]), score[np.arange(len(feats)), best]
