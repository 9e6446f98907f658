"""Database schema and engine factory (SQLAlchemy 2; SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Engine, Integer, String, Text, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError
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
    #: user whose token uploaded it; "" on rows stored before owners were recorded (admins only)
    uploader: Mapped[str] = mapped_column(String(255), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class KBFileRow(Base):
    """Who wrote a file of Sedna's ``/knowledgebase`` directory (``index.pkl``, uploads): only
    that user or an admin may overwrite it."""

    __tablename__ = "kb_files"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class KBTaskRow(Base):
    """Deploy flag of a Sedna lifelong-learning task group (``/knowledgebase/update/status``)."""

    __tablename__ = "kb_task_groups"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    deploy: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


def engine_url(url: str) -> str:
    """``url`` with PostgreSQL's driver made explicit: a plain ``postgresql://`` (what the chart's
    ``kb.databaseUrl`` and most users write) means psycopg 3, which the market ships; SQLAlchemy
    alone would pick psycopg2, which it does not."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(url: str) -> Engine:
    """Create the engine and the tables. SQLite gets WAL and a busy timeout for concurrency."""
    url = engine_url(url)
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
    _add_missing_columns(engine)
    return engine


#: columns added after the first release: (table, column, DDL type and default). create_all makes
#: new tables but never alters old ones, so a database from before gets them here; the DEFAULT
#: fills existing rows, and no migration tool is needed.
_ADDED_COLUMNS = (("market_learnwares", "uploader", "VARCHAR(255) NOT NULL DEFAULT ''"),)


def _add_missing_columns(engine: Engine) -> None:
    for table, column, ddl in _ADDED_COLUMNS:
        if column in {c["name"] for c in inspect(engine).get_columns(table)}:
            continue
        try:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
        except DBAPIError:
            # another process opening the same database added it first
            if column not in {c["name"] for c in inspect(engine).get_columns(table)}:
                raise
