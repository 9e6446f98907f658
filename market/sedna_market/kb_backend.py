"""The model market as the worker SDK's lifelong-learning knowledge base (``KB_BACKEND=market``).

The SDK never imports this package: it finds :class:`MarketBackend` through the
``sedna.knowledge_bases`` entry point group (name ``market``, declared in ``pyproject.toml``) and
drives it through the operations below, which are the whole of what
:mod:`sedna.algorithms.knowledge_management.market_kb` needs from the market: task specs and
unseen profiles (computed in the training worker), the in-process :class:`TaskMarket`, and the
market REST service (submit, delete, download).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from .client import MarketClient
from .lifelong import TaskMarket, point_distances
from .package import build_pickle_package
from .search.stat_index import DimGroup, StatIndex
from .spec.rkme import RKMETableSpec, generate_rkme_table_spec
from .spec.semantic import SemanticSpec, generate_semantic_spec
from .unseen import PROFILE_FILE, UnseenProfile, fit_unseen_profile, profile_from_package

__all__ = ["MarketBackend"]


class MarketBackend:
    """Operations of the model market used by the SDK's ``MarketKnowledgeBase`` (stateless)."""

    # -- specifications ---------------------------------------------------------------------------
    def rkme_spec(self, x: np.ndarray, gamma: float, reduced_set_size: int) -> RKMETableSpec:
        """The RKME statistical specification of a task's training inputs."""
        return generate_rkme_table_spec(x, gamma=gamma, reduced_set_size=reduced_set_size)

    def spec_from_dict(self, data: dict[str, Any]) -> RKMETableSpec:
        return RKMETableSpec.from_dict(data)

    def fit_profile(self, x: np.ndarray, quantile: float, margin: float, folds: int, reduced_set_size: int,
                    scale_floor: float, gamma_scale: float) -> UnseenProfile:
        """The task's unseen profile with its calibrated threshold (see :mod:`sedna_market.unseen`)."""
        return fit_unseen_profile(x, quantile, margin, folds, reduced_set_size, scale_floor, gamma_scale)

    def profile_from_dict(self, data: dict[str, Any]) -> UnseenProfile:
        return UnseenProfile.from_dict(data)

    def semantic_spec(self, name: str, description: str, dimension: int) -> SemanticSpec:
        """The semantic specification of a lifelong-learning task model (tabular input)."""
        return generate_semantic_spec(
            name=name, description=description, data_type="Table", task_type="Others",
            library_type="Others", scenarios=["Others"],
            input_description={"Dimension": int(dimension), "Description": {}},
        )

    # -- statistical search --------------------------------------------------------------------------
    def stack_specs(self, items: Sequence[tuple[str, RKMETableSpec]]) -> list[DimGroup]:
        """The tasks' reduced sets stacked per feature shape (one group per shape)."""
        return list(StatIndex(list(items)).groups.values())

    def point_distances(self, x: np.ndarray, group: DimGroup, gamma: float) -> np.ndarray:
        """``(n_samples, n_tasks)`` squared MMDs of each sample to each task of ``group``."""
        return point_distances(x, group, gamma)

    # -- where task models live -------------------------------------------------------------------------
    def task_market(self, db_url: str, storage_dir: str, gamma: float, **options: Any) -> TaskMarket:
        """The in-process task market of a job (SQLite at ``db_url``, packages in ``storage_dir``)."""
        return TaskMarket(db_url, storage_dir, gamma=gamma, **options)

    def submit(self, server: str, token: str | None, model: Any, spec: RKMETableSpec, profile: UnseenProfile,
               dimension: int, semantic: SemanticSpec) -> str:
        """Package ``model`` with its spec and profile and submit it to the market service; its id."""
        package = build_pickle_package(model, spec, (int(dimension),), None, semantic,
                                       extra_files={PROFILE_FILE: profile.to_json()})
        with MarketClient(server, token=token) as client:
            return str(client.submit(package, semantic, wait=False).id)

    def delete(self, server: str, token: str | None, task_id: str) -> None:
        with MarketClient(server, token=token) as client:
            client.delete(task_id)

    def fetch(self, server: str, task_id: str) -> tuple[RKMETableSpec, UnseenProfile | None]:
        """A task's spec and unseen profile (None for a package without one) read from its package."""
        with MarketClient(server) as client:
            data = client.download(task_id)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            spec = RKMETableSpec.from_json(zf.read("stat_spec.json"))
        return spec, profile_from_package(data)
