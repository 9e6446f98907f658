"""Hetero organizer: the engine and every eligible model's hetero spec, kept in step with the market.

Attached to an :class:`~sedna_market.organizer.Organizer` (it listens to every add, update and
delete), it keeps on disk, under the market's storage directory:

- ``hetero/model.bin``: the engine checkpoint (absent until the first training: the engine then
  has seeded random weights, as learnware's default HeteroMap);
- ``hetero/hetero_specifications/<id>.json``: each eligible model's hetero spec, stamped with the
  engine that made it (a spec of an older engine is remade at start).

A model is eligible when it is searchable, USABLE and hetero-eligible (:func:`.rules.is_hetero`).
With ``auto_update_limit`` > 0, every ``auto_update_limit`` newly eligible models retrain the
engine on the reduced points of **all** eligible models, save it and remake every spec.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..organizer import Organizer, Record
from ..search.stat_index import StatIndex
from ..search.stat_search import StatSearchResult, stat_search
from ..spec.rkme import RKMETableSpec
from ..spec.semantic import SemanticSpec
from ..status import CheckStatus
from .engine import EngineConfig, HeteroEngine, TrainConfig
from .rules import is_hetero
from .spec import HeteroMapTableSpec

log = logging.getLogger(__name__)

MODEL_FILE = "model.bin"
SPEC_DIR = "hetero_specifications"


def _fingerprint(rec: Record) -> str:
    """What the hetero spec of ``rec`` depends on: its RKME and its Input."""
    h = hashlib.sha256(rec.stat_spec.z2d.tobytes())
    h.update(rec.stat_spec.beta.tobytes())
    inp = rec.semantic_spec.Input
    h.update(json.dumps(inp.model_dump() if inp else None, sort_keys=True).encode())
    return h.hexdigest()


class HeteroOrganizer:
    """Hetero specs of a market's models, the engine that makes them, and hetero search."""

    def __init__(
        self,
        organizer: Organizer,
        storage_dir: str | Path,
        *,
        auto_update_limit: int = 100,
        train_config: TrainConfig | None = None,
        engine_config: EngineConfig | None = None,
        encoder: Any = None,
    ) -> None:
        if auto_update_limit < 0:
            raise ValueError(f"auto_update_limit must be >= 0 (0 turns auto-update off), not {auto_update_limit}")
        self.organizer = organizer
        self.dir = Path(storage_dir) / "hetero"
        self.spec_dir = self.dir / SPEC_DIR
        self.spec_dir.mkdir(parents=True, exist_ok=True)
        self.auto_update_limit = auto_update_limit
        self.train_config = train_config or TrainConfig()
        self._encoder = encoder
        self._lock = threading.RLock()
        self._train_lock = threading.Lock()  # one training at a time
        self._specs: dict[str, HeteroMapTableSpec] = {}
        self._prints: dict[str, str] = {}
        self._index: StatIndex | None = None
        self.countdown = auto_update_limit
        model_path = self.dir / MODEL_FILE
        if model_path.exists():
            self.engine = HeteroEngine.load(model_path, encoder=encoder)
        else:
            self.engine = HeteroEngine(engine_config, encoder=encoder)
        organizer.listeners.append(self.on_change)
        organizer.hetero = self
        self.reload()

    # -- state -------------------------------------------------------------------------------
    @property
    def engine_id(self) -> str:
        """Stamp of the engine's weights (``untrained`` before the first training)."""
        return self.engine.engine_id

    def eligible(self, rec: Record | None) -> bool:
        """Searchable, USABLE and hetero-eligible."""
        return (rec is not None and rec.searchable and rec.status == CheckStatus.USABLE
                and is_hetero(rec.semantic_spec, rec.stat_spec))

    def spec(self, mid: str) -> HeteroMapTableSpec | None:
        """The hetero spec of model ``mid``, or None."""
        return self._specs.get(mid)

    def __len__(self) -> int:
        return len(self._specs)

    def _path(self, mid: str) -> Path:
        return self.spec_dir / f"{mid}.json"

    def _map(self, rec: Record) -> HeteroMapTableSpec:
        assert rec.semantic_spec.Input is not None
        return self.engine.hetero_mapping(rec.stat_spec, rec.semantic_spec.Input.Description)

    def _store(self, rec: Record, spec: HeteroMapTableSpec) -> None:
        data = spec.to_dict() | {"engine": self.engine_id, "fingerprint": _fingerprint(rec)}
        tmp = self.spec_dir / f".{rec.id}.json.part"
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path(rec.id))
        self._specs[rec.id] = spec
        self._prints[rec.id] = data["fingerprint"]
        self._index = None

    def _drop(self, mid: str) -> None:
        self._specs.pop(mid, None)
        self._prints.pop(mid, None)
        self._path(mid).unlink(missing_ok=True)
        self._index = None

    def reload(self) -> int:
        """Load (or remake, when stale) the spec of every eligible model; remove the others'."""
        with self._lock:
            self._specs, self._prints, self._index = {}, {}, None
            records = {r.id: r for r in self.organizer.list() if self.eligible(r)}
            for rec in records.values():
                path = self._path(rec.id)
                try:
                    data = json.loads(path.read_text())
                    if data.get("engine") == self.engine_id and data.get("fingerprint") == _fingerprint(rec):
                        self._specs[rec.id] = HeteroMapTableSpec.from_dict(data)
                        self._prints[rec.id] = data["fingerprint"]
                        continue
                except (OSError, ValueError):
                    pass  # missing or unreadable: remade below
                self._store(rec, self._map(rec))
            for path in self.spec_dir.glob("*.json"):
                if path.stem not in records:
                    path.unlink(missing_ok=True)
            return len(self._specs)

    # -- organizer events --------------------------------------------------------------------
    def on_change(self, mid: str, rec: Record | None) -> None:
        """Keep ``mid``'s hetero spec in step (the organizer calls this after each change)."""
        retrain = False
        with self._lock:
            if not self.eligible(rec):
                if mid in self._specs or self._path(mid).exists():
                    self._drop(mid)
                return
            assert rec is not None
            new = mid not in self._specs
            if not new and self._prints.get(mid) == _fingerprint(rec):
                return
            self._store(rec, self._map(rec))
            if new and self.auto_update_limit > 0:
                self.countdown -= 1
                retrain = self.countdown <= 0
        if retrain:
            self.train()

    def train(self, config: TrainConfig | None = None) -> int:
        """Retrain the engine on every eligible model, save it, remake every spec; returns the
        number of models trained on.

        A new engine is trained beside the current one, which keeps serving searches and
        updates meanwhile; the swap (engine, ``model.bin``, every spec) is one step.
        """
        with self._train_lock:
            with self._lock:
                records = [r for r in self.organizer.list() if self.eligible(r)]
                old = self.engine
            tables = [(r.stat_spec.z2d, r.semantic_spec.Input.Description) for r in records  # type: ignore[union-attr]
                      if r.stat_spec.z.shape[0] >= 2]
            if not tables:
                raise ValueError("no eligible model to train the hetero engine on (USABLE table models "
                                 "whose Input.Description describes their features)")
            log.info("training the hetero engine on %d models", len(tables))
            fresh = HeteroEngine(old.config, encoder=self._encoder, threads=old.threads)
            fresh.fit(tables, config or self.train_config)
            with self._lock:
                fresh.save(self.dir / MODEL_FILE)
                self.engine = fresh
                self.countdown = self.auto_update_limit
                # every eligible model now, including any that arrived while training
                for rec in self.organizer.list():
                    if self.eligible(rec):
                        self._store(rec, self._map(rec))
            return len(tables)

    # -- user side and search ----------------------------------------------------------------
    def user_spec(self, semantic: SemanticSpec | None, rkme: RKMETableSpec | None) -> HeteroMapTableSpec | None:
        """The user's hetero spec, or None when the user is not hetero-eligible."""
        if not is_hetero(semantic, rkme):
            return None
        assert semantic is not None and semantic.Input is not None and rkme is not None
        return self.engine.hetero_mapping(rkme, semantic.Input.Description)

    def index(self) -> StatIndex:
        """Stacked hetero specs of the models that are still searchable."""
        idx = self._index
        if idx is not None:
            return idx
        with self._lock:
            if self._index is None:
                self._index = StatIndex((mid, s) for mid, s in self._specs.items()
                                        if self.eligible(self.organizer.get(mid)))
            return self._index

    def search(
        self,
        semantic: SemanticSpec | None,
        rkme: RKMETableSpec,
        allowed: Collection[str] | None = None,
        max_search_num: int = 5,
        search_method: str = "greedy",
    ) -> StatSearchResult | None:
        """Search in the unified space, or None when the user is not hetero-eligible or no
        model has a hetero spec (the caller then runs the normal search)."""
        user = self.user_spec(semantic, rkme)
        if user is None or not self._specs:
            return None
        return stat_search(self.index(), user, allowed, max_search_num, search_method)

    def status(self) -> dict[str, Any]:
        """What the hetero market holds (for the REST status route)."""
        return {
            "engine": self.engine_id,
            "trained_on": self.engine.trained_on,
            "hetero_specs": len(self._specs),
            "auto_update_limit": self.auto_update_limit,
            "until_retrain": self.countdown if self.auto_update_limit > 0 else None,
        }


__all__ = ["HeteroOrganizer", "MODEL_FILE", "SPEC_DIR"]
