"""Organizer: durable records (database) + package blobs (content-addressed store) + caches.

The database is the source of truth.  An in-memory cache of parsed specs serves searches; it is
rebuilt from the database by :meth:`Organizer.reload` (also at start), so a restart loses
nothing.  Writers hold one lock for the database write and the cache update so the two never
disagree inside a process; readers take immutable snapshots and need no lock.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .db import LearnwareRow, make_engine, utcnow
from .package import MAX_FILES, MAX_UNCOMPRESSED_BYTES
from .search.stat_index import StatIndex
from .spec.rkme import RKMETableSpec
from .spec.semantic import SemanticSpec
from .spec.stat_types import stat_spec_from_json
from .status import CheckStatus
from .storage import BlobStore

PENDING = "pending"
DONE = "done"


@dataclass(frozen=True)
class Record:
    """A model as the market knows it."""

    id: str
    name: str
    semantic_spec: SemanticSpec
    stat_spec: RKMETableSpec
    blob_sha256: str | None
    status: CheckStatus
    check_state: str
    reason: str
    created_at: datetime
    #: user whose token uploaded it ("" when unknown: stored before owners were recorded)
    uploader: str = ""

    @property
    def searchable(self) -> bool:
        """Checked, not INVALID, and its package is still stored."""
        return self.check_state == DONE and self.status != CheckStatus.INVALID and self.blob_sha256 is not None


def new_id() -> str:
    """Random 128-bit id: unique across restarts, deletes and replicas (no counters)."""
    return uuid.uuid4().hex


class Organizer:
    """Stores, updates, deletes and lists models; keeps the search snapshot current."""

    def __init__(
        self,
        db_url: str,
        storage_dir: str | Path,
        *,
        max_storage_bytes: int = 0,
        max_package_bytes: int = MAX_UNCOMPRESSED_BYTES,
        max_package_files: int = MAX_FILES,
    ) -> None:
        """``max_storage_bytes`` is the store's quota (0: none, the library default; the service
        sets ``MarketSettings.max_storage_bytes``); the package bounds apply to extraction."""
        self.engine = make_engine(db_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.store = BlobStore(storage_dir, max_storage_bytes, max_package_bytes, max_package_files)
        self._lock = threading.RLock()
        self._records: dict[str, Record] = {}
        self._index: StatIndex | None = None
        #: called as ``fn(id, record or None)`` after every add, update and delete, outside the
        #: lock (the hetero organizer keeps its specs in step this way)
        self.listeners: list[Callable[[str, Record | None], None]] = []
        #: the attached :class:`~sedna_market.hetero.organizer.HeteroOrganizer`, if any
        self.hetero: Any = None
        self.reload()

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _to_record(row: LearnwareRow, spec: RKMETableSpec | None = None) -> Record:
        return Record(
            id=row.id,
            name=row.name,
            semantic_spec=SemanticSpec.from_dict(json.loads(row.semantic_spec)),
            stat_spec=spec if spec is not None else stat_spec_from_json(row.stat_spec),
            blob_sha256=row.blob_sha256,
            status=CheckStatus(row.status),
            check_state=row.check_state,
            reason=row.reason,
            created_at=row.created_at,
            uploader=row.uploader or "",
        )

    def _session(self) -> Session:
        return self._sessions()

    def _notify(self, mid: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(mid, self._records.get(mid))
            except Exception:  # noqa: BLE001 - a listener must not undo a committed change
                logging.getLogger(__name__).exception("organizer listener failed for %s", mid)

    def _changed(self) -> None:
        self._index = None  # next search rebuilds the stacked arrays

    def _release_blob(self, session: Session, sha: str | None, except_id: str) -> None:
        if sha is None:
            return
        others = session.scalar(
            select(LearnwareRow.id).where(LearnwareRow.blob_sha256 == sha, LearnwareRow.id != except_id).limit(1)
        )
        if others is None:
            self.store.delete(sha)

    # -- API -------------------------------------------------------------------------------------
    def reload(self) -> int:
        """Re-read every record from the database; returns how many were loaded."""
        with self._lock, self._session() as session:
            records = {}
            for row in session.scalars(select(LearnwareRow).order_by(LearnwareRow.created_at)):
                records[row.id] = self._to_record(row)
            self._records = records
            self._changed()
            return len(records)

    def add(
        self,
        package: bytes | None,
        semantic_spec: SemanticSpec,
        stat_spec: RKMETableSpec,
        status: CheckStatus = CheckStatus.NONUSABLE,
        check_state: str = PENDING,
        reason: str = "",
        learnware_id: str | None = None,
        uploader: str = "",
    ) -> str:
        """Store a package and its specs; returns the new id. Raises
        :class:`~sedna_market.storage.QuotaExceeded` (nothing stored) over the storage quota."""
        mid = learnware_id or new_id()
        sha = self.store.put(package) if package is not None else None
        row = LearnwareRow(
            id=mid,
            name=semantic_spec.Name.Values[:255],
            semantic_spec=json.dumps(semantic_spec.to_dict()),
            stat_spec=stat_spec.to_json(),
            blob_sha256=sha,
            status=int(status),
            check_state=check_state,
            reason=reason,
            uploader=uploader,
        )
        with self._lock:
            with self._session() as session, session.begin():
                if session.get(LearnwareRow, mid) is not None:
                    raise KeyError(f"id {mid!r} already exists")
                session.add(row)
            self._records[mid] = self._to_record(row, stat_spec)
            self._changed()
        self._notify(mid)
        return mid

    def update(self, mid: str, **changes: Any) -> Record:
        """Change fields of a record (see :meth:`_update`), then tell the listeners."""
        rec = self._update(mid, **changes)
        self._notify(mid)
        return rec

    def _update(
        self,
        mid: str,
        *,
        semantic_spec: SemanticSpec | None = None,
        package: bytes | None = None,
        stat_spec: RKMETableSpec | None = None,
        status: CheckStatus | None = None,
        check_state: str | None = None,
        reason: str | None = None,
        drop_package: bool = False,
    ) -> Record:
        """Change fields of a record; ``drop_package`` releases its blob (used for INVALID)."""
        with self._lock, self._session() as session, session.begin():
            row = session.get(LearnwareRow, mid)
            if row is None:
                raise KeyError(mid)
            old_sha = row.blob_sha256
            if semantic_spec is not None:
                row.semantic_spec = json.dumps(semantic_spec.to_dict())
                row.name = semantic_spec.Name.Values[:255]
            if package is not None:
                row.blob_sha256 = self.store.put(package)
            if drop_package:
                row.blob_sha256 = None
            if stat_spec is not None:
                row.stat_spec = stat_spec.to_json()
            if status is not None:
                row.status = int(status)
            if check_state is not None:
                row.check_state = check_state
            if reason is not None:
                row.reason = reason
            row.updated_at = utcnow()
            session.flush()
            if old_sha != row.blob_sha256:
                self._release_blob(session, old_sha, mid)
            old = self._records.get(mid)
            rec = self._to_record(row, stat_spec if stat_spec is not None else (old.stat_spec if old else None))
            self._records[mid] = rec
            self._changed()
            return rec

    def delete(self, mid: str) -> bool:
        """Remove a record and, if unreferenced, its blob. Returns False when unknown."""
        deleted = self._delete(mid)
        if deleted:
            self._notify(mid)
        return deleted

    def _delete(self, mid: str) -> bool:
        with self._lock, self._session() as session, session.begin():
            row = session.get(LearnwareRow, mid)
            if row is None:
                return False
            sha = row.blob_sha256
            session.delete(row)
            session.flush()
            self._release_blob(session, sha, mid)
            self._records.pop(mid, None)
            self._changed()
            return True

    def get(self, mid: str) -> Record | None:
        """The record with id ``mid`` or None."""
        return self._records.get(mid)

    def list(self, status: CheckStatus | None = None, searchable_only: bool = False) -> list[Record]:
        """Records, oldest first, optionally filtered by status or searchability."""
        out = list(self._records.values())
        if searchable_only:
            out = [r for r in out if r.searchable]
        if status is not None:
            out = [r for r in out if r.status == status]
        return out

    def __len__(self) -> int:
        return len(self._records)

    def index(self) -> StatIndex:
        """Stacked snapshot of every searchable model (cached until the next change)."""
        idx = self._index
        if idx is not None:
            return idx
        with self._lock:
            if self._index is None:
                self._index = StatIndex((r.id, r.stat_spec) for r in self._records.values() if r.searchable)
            return self._index

    def package_bytes(self, mid: str) -> bytes | None:
        """The stored zip of a model, or None."""
        rec = self.get(mid)
        if rec is None or rec.blob_sha256 is None:
            return None
        return self.store.read(rec.blob_sha256)

    def package_dir(self, mid: str) -> Path | None:
        """Extracted package directory of a model, or None."""
        rec = self.get(mid)
        if rec is None or rec.blob_sha256 is None:
            return None
        return self.store.unpacked(rec.blob_sha256)


__all__ = ["DONE", "PENDING", "Organizer", "Record", "new_id"]
