"""SQLite store of the local runtime: latest report per worker, an append-only report log,
and dataset counts / events. Writes are group-committed: concurrent ``record`` calls share
one transaction, and each call returns only once its report is committed.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Integer, String, create_engine, event, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ..controllers.plan import WorkerReport
from .models import OwnerKey
from .sinks import DatasetEvent, DatasetKey

__all__ = ["SQLiteSink"]


class _Base(DeclarativeBase):
    pass


class _LatestReport(_Base):
    __tablename__ = "lc_reports_latest"
    namespace: Mapped[str] = mapped_column(String, primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String, primary_key=True)
    owner_name: Mapped[str] = mapped_column(String, primary_key=True)
    worker: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    owner_info: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sequence: Mapped[int] = mapped_column(Integer)


class _ReportLog(_Base):
    __tablename__ = "lc_reports_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String, index=True)
    owner_kind: Mapped[str] = mapped_column(String)
    owner_name: Mapped[str] = mapped_column(String)
    worker: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    owner_info: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sequence: Mapped[int] = mapped_column(Integer)


class _DatasetCount(_Base):
    __tablename__ = "lc_datasets"
    namespace: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True)
    number_of_samples: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class _DatasetEventRow(_Base):
    __tablename__ = "lc_dataset_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String)
    name: Mapped[str] = mapped_column(String)
    type: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    message: Mapped[str] = mapped_column(String)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


_UPDATED = ("kind", "status", "owner_info", "results", "received_at", "sequence")


def _row_fields(owner: OwnerKey, report: WorkerReport) -> dict[str, Any]:
    return {
        "namespace": owner.namespace,
        "owner_kind": owner.kind,
        "owner_name": owner.name,
        "worker": report.worker,
        "kind": report.kind,
        "status": report.status,
        "owner_info": report.owner_info,
        "results": report.results,
        "received_at": report.received_at,
        "sequence": report.sequence,
    }


def _to_report(row: _LatestReport | _ReportLog) -> WorkerReport:
    received = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
    return WorkerReport(
        worker=row.worker,
        kind=row.kind,
        status=row.status,
        owner_info=row.owner_info,
        results=row.results,
        received_at=received,
        sequence=row.sequence,
    )


class SQLiteSink:
    """A :class:`ReportStore` and :class:`DatasetSink` in one SQLite file (WAL mode).

    All database work runs on one dedicated thread, so SQLite never sees two writers.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._engine: Engine = create_engine(f"sqlite:///{self.path}", future=True)
        event.listen(self._engine, "connect", self._pragmas)
        _Base.metadata.create_all(self._engine)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sedna-lc-sqlite")
        self._pending: list[tuple[OwnerKey, WorkerReport, asyncio.Future[None]]] = []
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None

    @staticmethod
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    # -- ReportSink / ReportStore -------------------------------------------------------
    async def record(self, owner: OwnerKey, report: WorkerReport) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((owner, report, done))
        if not self._flushing:
            self._flushing = True
            self._flush_task = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await loop.run_in_executor(
                        self._executor, self._write_reports, [(o, r) for o, r, _ in batch]
                    )
                except Exception as exc:
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                else:
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_result(None)
        finally:
            self._flushing = False

    def _write_reports(self, batch: list[tuple[OwnerKey, WorkerReport]]) -> None:
        rows = [_row_fields(owner, report) for owner, report in batch]
        with self._engine.begin() as conn:  # one transaction (one commit) for the whole batch
            conn.execute(insert(_ReportLog), rows)
            upsert = sqlite_insert(_LatestReport)
            upsert = upsert.on_conflict_do_update(
                index_elements=["namespace", "owner_kind", "owner_name", "worker"],
                set_={k: upsert.excluded[k] for k in _UPDATED},
            )
            conn.execute(upsert, rows)  # executemany, in order: the last report of a worker wins

    async def latest(self, owner: OwnerKey, worker: str) -> WorkerReport | None:
        return await self._run(self.latest_sync, owner, worker)

    def latest_sync(self, owner: OwnerKey, worker: str) -> WorkerReport | None:
        with Session(self._engine) as session:
            row = session.get(_LatestReport, (owner.namespace, owner.kind, owner.name, worker))
            return _to_report(row) if row is not None else None

    def reports(self, owner: OwnerKey) -> dict[str, WorkerReport]:
        """Latest report of every worker of ``owner`` (what ``Observation.reports`` wants)."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(_LatestReport).where(
                    _LatestReport.namespace == owner.namespace,
                    _LatestReport.owner_kind == owner.kind,
                    _LatestReport.owner_name == owner.name,
                )
            )
            return {row.worker: _to_report(row) for row in rows}

    def report_log(self, owner: OwnerKey | None = None, limit: int | None = None) -> list[WorkerReport]:
        """Every accepted report in arrival order (optionally of one owner)."""
        with Session(self._engine) as session:
            query = select(_ReportLog).order_by(_ReportLog.id)
            if owner is not None:
                query = query.where(
                    _ReportLog.namespace == owner.namespace,
                    _ReportLog.owner_kind == owner.kind,
                    _ReportLog.owner_name == owner.name,
                )
            if limit is not None:
                query = query.limit(limit)
            return [_to_report(row) for row in session.scalars(query)]

    # -- DatasetSink -------------------------------------------------------------------
    async def samples_changed(
        self, key: DatasetKey, number_of_samples: int, new_lines: list[str], first_index: int
    ) -> None:
        await self._run(self._write_count, key, number_of_samples)

    def _write_count(self, key: DatasetKey, number_of_samples: int) -> None:
        with Session(self._engine) as session, session.begin():
            stmt = sqlite_insert(_DatasetCount).values(
                namespace=key.namespace, name=key.name, number_of_samples=number_of_samples,
                updated_at=datetime.now(UTC),
            )  # fmt: skip
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["namespace", "name"],
                    set_={
                        "number_of_samples": stmt.excluded.number_of_samples,
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )

    async def event(self, key: DatasetKey, event: DatasetEvent) -> None:
        await self._run(self._write_event, key, event)

    def _write_event(self, key: DatasetKey, ev: DatasetEvent) -> None:
        with Session(self._engine) as session, session.begin():
            session.add(
                _DatasetEventRow(
                    namespace=key.namespace, name=key.name, type=ev.type, reason=ev.reason,
                    message=ev.message, at=datetime.now(UTC),
                )
            )  # fmt: skip

    def dataset_count(self, key: DatasetKey) -> int | None:
        """The last ``numberOfSamples`` recorded for a dataset."""
        with Session(self._engine) as session:
            row = session.get(_DatasetCount, (key.namespace, key.name))
            return row.number_of_samples if row is not None else None

    def dataset_counts(self) -> dict[tuple[str, str], int]:
        """Every recorded ``numberOfSamples`` by ``(namespace, name)``, in one query (the local
        runtime reads them once a pass; one query per Dataset made thousands a pass)."""
        with Session(self._engine) as session:
            rows = session.execute(
                select(_DatasetCount.namespace, _DatasetCount.name, _DatasetCount.number_of_samples)
            )
            return {(ns, name): int(count) for ns, name, count in rows}

    def dataset_events(self, key: DatasetKey) -> list[DatasetEvent]:
        with Session(self._engine) as session:
            rows = session.scalars(
                select(_DatasetEventRow)
                .where(_DatasetEventRow.namespace == key.namespace, _DatasetEventRow.name == key.name)
                .order_by(_DatasetEventRow.id)
            )
            return [DatasetEvent(type=r.type, reason=r.reason, message=r.message) for r in rows]

    # -- plumbing ----------------------------------------------------------------------
    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        """Finish pending work and release the database."""
        self._executor.shutdown(wait=True)
        self._engine.dispose()
