"""Database schema and engine factory (SQLAlchemy 2; SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Engine, Integer, String, Text, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class LearnwareRow(Base):
    """One submitted model. Specs are stored as JSON text so a restart needs no unzipping."""

    __tablename__ = "market_learnwares"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    semantic_spec: Mapped[str] = mapped_column(Text)
    stat_spec: Mapped[str] = mapped_column(Text)
    blob_sha256: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    status: Mapped[int] = mapped_column(Integer, default=0)
    check_state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class KBTaskRow(Base):
    """Deploy flag of a Sedna lifelong-learning task group (``/knowledgebase/update/status``)."""

    __tablename__ = "kb_task_groups"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    deploy: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


def make_engine(url: str) -> Engine:
    """Create the engine and the tables. SQLite gets WAL and a busy timeout for concurrency."""
    if url.startswith("sqlite"):
        memory = ":memory:" in url or url in ("sqlite://", "sqlite:///")
        # an in-memory database exists per connection: share one connection across threads
        extra = {"poolclass": StaticPool} if memory else {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **extra)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine
