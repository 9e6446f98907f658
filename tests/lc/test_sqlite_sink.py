"""The SQLite sink of the local runtime: latest report per worker, append-only log, reopen."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sedna_operator.controllers.plan import WorkerReport
from sedna_operator.lc import DatasetEvent, DatasetKey, OwnerKey, ReportStore, SQLiteSink

OWNER = OwnerKey(namespace="ns", kind="LifelongLearningJob", name="job")


def report(worker: str, status: str, seq: int) -> WorkerReport:
    return WorkerReport(
        worker=worker, kind="train", status=status, owner_info={"k": [1, 2]},
        results=[{"format": "pkl", "url": "/out/index.pkl", "metrics": {"acc": 0.9}}],
        received_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), sequence=seq,
    )  # fmt: skip


def test_sqlite_sink_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "state" / "lc.db"
    sink = SQLiteSink(db)
    assert isinstance(sink, ReportStore)

    async def write() -> None:
        # Concurrent records share group commits; each returns once committed.
        await asyncio.gather(*(sink.record(OWNER, report(f"w{i % 3}", "running", i + 1)) for i in range(30)))
        await sink.record(OWNER, report("w0", "completed", 99))
        await sink.record(
            OwnerKey(namespace="ns", kind="LifelongLearningJob", name="other"), report("w0", "failed", 1)
        )
        await sink.samples_changed(DatasetKey(namespace="ns", name="ds"), 42, ["a"], 41)
        await sink.event(
            DatasetKey(namespace="ns", name="ds"), DatasetEvent(reason="IndexTruncated", message="m")
        )

    asyncio.run(write())
    sink.close()

    reopened = SQLiteSink(db)
    latest = reopened.reports(OWNER)
    assert sorted(latest) == ["w0", "w1", "w2"]
    assert latest["w0"] == report("w0", "completed", 99)
    assert latest["w1"].sequence == 29 and latest["w2"].sequence == 30
    assert len(reopened.report_log(OWNER)) == 31
    assert len(reopened.report_log()) == 32
    assert asyncio.run(reopened.latest(OWNER, "w0")) == report("w0", "completed", 99)
    assert asyncio.run(reopened.latest(OWNER, "nobody")) is None
    assert reopened.dataset_count(DatasetKey(namespace="ns", name="ds")) == 42
    assert reopened.dataset_events(DatasetKey(namespace="ns", name="ds"))[0].reason == "IndexTruncated"
    reopened.close()
