"""The local state directory: one SQLite file (WAL mode) that ``sedna run`` and ``sedna get`` share.

Tables: ``resources`` (sedna.io objects as wire JSON, with uid / generation / resourceVersion),
``objects`` (Secrets and ConfigMaps given on the command line), ``workers`` (one local process
per pod), ``services`` (with the local port each service got), ``events``, ``reports`` (worker
reports received by the local controller) and ``meta``. Every write is a short transaction, so a
second process can read at any time and a ``SIGKILL`` never loses a committed write.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String, Text, UniqueConstraint, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ...core.merge import merge_patch
from .keyfile import KeyFile, SealError

LOGGER = logging.getLogger(__name__)

__all__ = [
    "Store",
    "StateCorrupt",
    "ResourceRow",
    "WorkerRow",
    "ServiceRow",
    "EventRow",
    "default_state_dir",
    "now_iso",
]

DB_FILE = "state.db"
# Where state written before ``state.key`` existed kept the LC key (moved out on open).
_LEGACY_LC_SECRET = "lc_secret"


def default_state_dir() -> Path:
    """``$SEDNA_STATE_DIR`` or ``./.sedna``."""
    return Path(os.environ.get("SEDNA_STATE_DIR") or ".sedna")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Base(DeclarativeBase):
    pass


class ResourceRow(_Base):
    __tablename__ = "resources"
    __table_args__ = (UniqueConstraint("kind", "namespace", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="")
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    delete_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def obj(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class ObjectRow(_Base):
    __tablename__ = "objects"
    __table_args__ = (UniqueConstraint("kind", "namespace", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    body: Mapped[str] = mapped_column(Text)


class WorkerRow(_Base):
    __tablename__ = "workers"
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(64), index=True)
    owner_namespace: Mapped[str] = mapped_column(String(253))
    owner_name: Mapped[str] = mapped_column(String(253), index=True)
    role: Mapped[str] = mapped_column(String(64))
    pod: Mapped[str] = mapped_column(Text)
    template_hash: Mapped[str] = mapped_column(String(128), default="")
    phase: Mapped[str] = mapped_column(String(32), default="Pending")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pid_started: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    log_path: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=now_iso)
    started_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    finished_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    next_start: Mapped[float | None] = mapped_column(Float, nullable=True)
    deleting: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def pod_obj(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.pod)
        return data


class ServiceRow(_Base):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("namespace", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253))
    owner_kind: Mapped[str] = mapped_column(String(64))
    owner_name: Mapped[str] = mapped_column(String(253))
    body: Mapped[str] = mapped_column(Text)
    ports: Mapped[str] = mapped_column(Text, default="{}")  # JSON {declared: actual}

    @property
    def port_map(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in json.loads(self.ports).items()}


class EventRow(_Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    namespace: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(253), index=True)
    type: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_time: Mapped[str] = mapped_column(String(32), default=now_iso)
    last_time: Mapped[str] = mapped_column(String(32), default=now_iso)


class MetaRow(_Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class ApplyResult:
    kind: str
    namespace: str
    name: str
    action: str  # created | configured | unchanged


def _wal(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _create_schema(engine: Engine, attempts: int = 5) -> None:
    """Create the tables. `sedna run` and `sedna get` in another terminal may both open a new
    state dir at once; SQLite's check-then-create is not atomic across processes, so the loser
    sees "already exists" (or a lock) and simply tries again, finding the tables there."""
    for attempt in range(attempts):
        try:
            _Base.metadata.create_all(engine)
            return
        except OperationalError as exc:
            transient = "already exists" in str(exc) or "locked" in str(exc)
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _chunks(items: builtins.list[str], size: int) -> Iterator[builtins.list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StateCorrupt(RuntimeError):
    """The state database cannot be used; the message says how to start over."""


def _unusable(db_path: Path, why: str) -> StateCorrupt:
    return StateCorrupt(
        f"{db_path} {why}; to start over, move it aside (mv {db_path} {db_path}.broken) and run "
        "`sedna run` again: every job then starts from the beginning"
    )


class Store:
    """Typed access to the state directory's database. Methods open one short transaction each.

    Raises :class:`StateCorrupt` (one line, with the recovery command) for a database that is
    not SQLite, is damaged, or was emptied after runs (a truncated file would otherwise look
    new, and every job would silently start again).
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.state_dir / DB_FILE
        if (
            self.db_path.exists()
            and self.db_path.stat().st_size == 0
            and self.logs_dir.is_dir()
            and any(self.logs_dir.iterdir())
        ):
            raise _unusable(self.db_path, "is empty although this state directory has run workers")
        # state.db holds sealed Secret objects and job state: readable by the owner only
        # (SQLite gives its -wal/-shm files the database file's mode)
        with contextlib.suppress(OSError):
            os.close(os.open(self.db_path, os.O_CREAT | os.O_WRONLY, 0o600))
            self.db_path.chmod(0o600)
        self.engine: Engine = create_engine(f"sqlite:///{self.db_path}", future=True)
        event.listen(self.engine, "connect", _wal)
        try:
            _create_schema(self.engine)
            with self.engine.connect() as conn:
                verdict = conn.exec_driver_sql("PRAGMA quick_check(1)").scalar()
        except DatabaseError as exc:
            if isinstance(exc, OperationalError) and "locked" in str(exc):
                raise
            self.engine.dispose()
            raise _unusable(self.db_path, f"is not a usable database ({exc.orig})") from None
        if verdict != "ok":
            self.engine.dispose()
            raise _unusable(self.db_path, f"is damaged ({verdict})")
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.keys = KeyFile(self.state_dir, legacy_secret=self.get_meta(_LEGACY_LC_SECRET))
        self._seal_legacy_rows()

    def _seal_legacy_rows(self) -> None:
        """State written before the key file kept the LC key and Secrets in clear: move the key
        out (``state.key`` took its value) and seal the Secrets, once."""
        with self.session() as s:
            legacy = s.get(MetaRow, _LEGACY_LC_SECRET)
            if legacy is not None:
                s.delete(legacy)
            for row in s.scalars(select(ObjectRow).where(ObjectRow.kind == "Secret")):
                if not KeyFile.is_sealed(row.body):
                    row.body = self.keys.seal(row.body)

    @property
    def lc_secret(self) -> str:
        """The LC token key of this state directory (kept in ``state.key`` for resumed runs)."""
        return self.keys.lc_secret

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # ---- resources -------------------------------------------------------------------------

    def apply(self, obj: dict[str, Any], source: str = "") -> ApplyResult:
        """Create or update a sedna.io object from a manifest (``kubectl apply`` semantics).

        New objects get uid, generation 1, creationTimestamp. A spec change bumps
        ``generation``; status and finished state are kept, labels/annotations are merged.
        """
        with self.session() as s:
            return self._apply_in(s, obj, source)

    def apply_all(self, items: builtins.list[tuple[dict[str, Any], str]]) -> builtins.list[ApplyResult]:
        """:meth:`apply` each ``(object, source)`` in one transaction: one commit (one WAL
        sync) for all, instead of one per object, and all or none applied if interrupted."""
        with self.session() as s:
            # the batch's existing rows in one query, not one SELECT (and autoflush) per object
            names = {str((obj.get("metadata") or {}).get("name")) for obj, _ in items}
            known: dict[tuple[str, str, str], ResourceRow] = {}
            for chunk in _chunks(sorted(names), 500):  # SQLite bounds the parameters of one query
                for row in s.scalars(select(ResourceRow).where(ResourceRow.name.in_(chunk))):
                    known[(row.kind, row.namespace, row.name)] = row
            return [self._apply_in(s, obj, source, known) for obj, source in items]

    @staticmethod
    def _apply_in(
        s: Session,
        obj: dict[str, Any],
        source: str,
        known: dict[tuple[str, str, str], ResourceRow] | None = None,
    ) -> ApplyResult:
        kind = obj["kind"]
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", meta["name"]
        if known is not None:
            row = known.get((kind, ns, name))
        else:
            row = s.scalars(
                select(ResourceRow).where(
                    ResourceRow.kind == kind, ResourceRow.namespace == ns, ResourceRow.name == name
                )
            ).first()
        if row is None:
            body = json.loads(json.dumps(obj))
            body.setdefault("metadata", {})
            body["metadata"].update(
                namespace=ns,
                uid=str(uuid.uuid4()),
                generation=1,
                resourceVersion="1",
                creationTimestamp=now_iso(),
            )
            body.setdefault("status", {})
            created = ResourceRow(kind=kind, namespace=ns, name=name, body=json.dumps(body), source=source)
            s.add(created)
            if known is not None:  # the same object again later in the batch updates this row
                known[(kind, ns, name)] = created
            return ApplyResult(kind, ns, name, "created")
        current = row.obj
        changed = current.get("spec") != obj.get("spec")
        new_meta = dict(current["metadata"])
        for key in ("labels", "annotations"):
            merged = {**(new_meta.get(key) or {}), **(meta.get(key) or {})}
            if merged:
                new_meta[key] = merged
        if changed:
            new_meta["generation"] = int(new_meta.get("generation", 1)) + 1
        if not changed and new_meta == current["metadata"] and source == row.source:
            return ApplyResult(kind, ns, name, "unchanged")
        new_meta["resourceVersion"] = str(int(new_meta.get("resourceVersion", "0")) + 1)
        body = {**current, "metadata": new_meta, "spec": obj.get("spec")}
        row.body = json.dumps(body)
        row.source = source
        if changed:
            row.finished = False
        return ApplyResult(kind, ns, name, "configured" if changed else "unchanged")

    def get(self, kind: str, namespace: str, name: str) -> ResourceRow | None:
        with self.session() as s:
            return s.scalars(
                select(ResourceRow).where(
                    ResourceRow.kind == kind, ResourceRow.namespace == namespace, ResourceRow.name == name
                )
            ).first()

    def find(self, kind: str, name: str) -> builtins.list[ResourceRow]:
        """Objects of ``kind`` named ``name`` in any namespace."""
        with self.session() as s:
            return list(
                s.scalars(select(ResourceRow).where(ResourceRow.kind == kind, ResourceRow.name == name))
            )

    def list(self, kind: str | None = None, namespace: str | None = None) -> builtins.list[ResourceRow]:
        with self.session() as s:
            q = select(ResourceRow).order_by(ResourceRow.kind, ResourceRow.namespace, ResourceRow.name)
            if kind:
                q = q.where(ResourceRow.kind == kind)
            if namespace:
                q = q.where(ResourceRow.namespace == namespace)
            return list(s.scalars(q))

    def _update(self, kind: str, namespace: str, name: str, fn: Any) -> dict[str, Any] | None:
        with self.session() as s:
            row = s.scalars(
                select(ResourceRow).where(
                    ResourceRow.kind == kind, ResourceRow.namespace == namespace, ResourceRow.name == name
                )
            ).first()
            if row is None:
                return None
            body = row.obj
            new = fn(body)
            if new != body:
                new["metadata"]["resourceVersion"] = str(int(new["metadata"].get("resourceVersion", "0")) + 1)
                row.body = json.dumps(new)
            result: dict[str, Any] = new
            return result

    def patch_status(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Apply a JSON merge patch to ``.status``; returns the new object (None if it is gone)."""
        if not patch:
            return None
        return self._update(
            kind, namespace, name, lambda b: {**b, "status": merge_patch(b.get("status") or {}, patch)}
        )

    def patch_statuses(
        self, kind: str, patches: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """:meth:`patch_status` of many objects of ``kind`` (by ``(namespace, name)``) in one
        transaction: the LC's sample counts of thousands of Datasets are one commit, not one
        each. Returns the new objects (those gone are left out)."""
        done: dict[tuple[str, str], dict[str, Any]] = {}
        if not patches:
            return done
        with self.session() as s:
            for row in s.scalars(select(ResourceRow).where(ResourceRow.kind == kind)):
                patch = patches.get((row.namespace, row.name))
                if not patch:
                    continue
                body = row.obj
                new = {**body, "status": merge_patch(body.get("status") or {}, patch)}
                if new != body:
                    new["metadata"]["resourceVersion"] = str(int(new["metadata"].get("resourceVersion", "0")) + 1)
                    row.body = json.dumps(new)
                done[(row.namespace, row.name)] = new
        return done

    def set_annotations(
        self, kind: str, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> None:
        if not annotations:
            return

        def fn(body: dict[str, Any]) -> dict[str, Any]:
            meta = dict(body["metadata"])
            meta["annotations"] = merge_patch(meta.get("annotations") or {}, annotations) or {}
            return {**body, "metadata": meta}

        self._update(kind, namespace, name, fn)

    def set_finished(self, kind: str, namespace: str, name: str, finished: bool) -> None:
        with self.session() as s:
            row = s.scalars(
                select(ResourceRow).where(
                    ResourceRow.kind == kind, ResourceRow.namespace == namespace, ResourceRow.name == name
                )
            ).first()
            if row is not None:
                row.finished = finished

    def request_delete(self, kind: str, namespace: str, name: str) -> bool:
        with self.session() as s:
            row = s.scalars(
                select(ResourceRow).where(
                    ResourceRow.kind == kind, ResourceRow.namespace == namespace, ResourceRow.name == name
                )
            ).first()
            if row is None:
                return False
            row.delete_requested = True
            return True

    def remove(self, kind: str, namespace: str, name: str) -> None:
        """Forget a resource with its services, events and reports (workers are removed by the runner)."""
        with self.session() as s:
            for model in (ResourceRow,):
                for row in s.scalars(
                    select(model).where(model.kind == kind, model.namespace == namespace, model.name == name)
                ):
                    s.delete(row)
            for srow in s.scalars(
                select(ServiceRow).where(
                    ServiceRow.owner_kind == kind,
                    ServiceRow.owner_name == name,
                    ServiceRow.namespace == namespace,
                )
            ):
                s.delete(srow)

    # ---- secrets and config maps -----------------------------------------------------------

    def put_object(self, obj: dict[str, Any]) -> None:
        kind = str(obj.get("kind"))
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", str(meta.get("name"))
        with self.session() as s:
            row = s.scalars(
                select(ObjectRow).where(
                    ObjectRow.kind == kind, ObjectRow.namespace == ns, ObjectRow.name == name
                )
            ).first()
            body = json.dumps(obj)
            if kind == "Secret":
                body = self.keys.seal(body)
            if row is None:
                s.add(ObjectRow(kind=kind, namespace=ns, name=name, body=body))
            else:
                row.body = body

    def objects(self, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
        """Stored objects of ``kind`` (Secrets opened). A Secret sealed under another key (its
        ``state.key`` was lost) is left out with a warning: giving its manifest again replaces it."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        with self.session() as s:
            for r in s.scalars(select(ObjectRow).where(ObjectRow.kind == kind)):
                try:
                    found[(r.namespace, r.name)] = json.loads(self.keys.open(r.body))
                except SealError as exc:
                    LOGGER.warning("Secret %s/%s cannot be read (%s); apply its manifest again", r.namespace, r.name, exc)
        return found

    # ---- workers ---------------------------------------------------------------------------

    def add_worker(self, row: WorkerRow) -> None:
        with self.session() as s:
            s.add(row)

    def worker(self, name: str) -> WorkerRow | None:
        with self.session() as s:
            return s.get(WorkerRow, name)

    def workers(
        self, owner_kind: str | None = None, owner_namespace: str | None = None, owner_name: str | None = None
    ) -> builtins.list[WorkerRow]:
        with self.session() as s:
            q = select(WorkerRow).order_by(WorkerRow.created_at, WorkerRow.name)
            if owner_kind:
                q = q.where(WorkerRow.owner_kind == owner_kind)
            if owner_namespace:
                q = q.where(WorkerRow.owner_namespace == owner_namespace)
            if owner_name:
                q = q.where(WorkerRow.owner_name == owner_name)
            return list(s.scalars(q))

    def update_worker(self, name: str, **fields: Any) -> None:
        with self.session() as s:
            row = s.get(WorkerRow, name)
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)

    def remove_worker(self, name: str) -> None:
        with self.session() as s:
            row = s.get(WorkerRow, name)
            if row is not None:
                s.delete(row)

    # ---- services --------------------------------------------------------------------------

    def services(self, namespace: str | None = None) -> builtins.list[ServiceRow]:
        with self.session() as s:
            q = select(ServiceRow)
            if namespace:
                q = q.where(ServiceRow.namespace == namespace)
            return list(s.scalars(q))

    def put_service(
        self,
        namespace: str,
        name: str,
        owner_kind: str,
        owner_name: str,
        body: dict[str, Any],
        ports: dict[int, int],
    ) -> bool:
        """Create the service if missing (True) and keep its ports; an existing one is updated but keeps its ports."""
        with self.session() as s:
            row = s.scalars(
                select(ServiceRow).where(ServiceRow.namespace == namespace, ServiceRow.name == name)
            ).first()
            if row is None:
                s.add(
                    ServiceRow(
                        namespace=namespace,
                        name=name,
                        owner_kind=owner_kind,
                        owner_name=owner_name,
                        body=json.dumps(body),
                        ports=json.dumps({str(k): v for k, v in ports.items()}),
                    )
                )
                return True
            row.body = json.dumps(body)
            return False

    def remove_service(self, namespace: str, name: str) -> None:
        with self.session() as s:
            for row in s.scalars(
                select(ServiceRow).where(ServiceRow.namespace == namespace, ServiceRow.name == name)
            ):
                s.delete(row)

    # ---- events ----------------------------------------------------------------------------

    def add_event(self, kind: str, namespace: str, name: str, type_: str, reason: str, message: str) -> None:
        """Record an event; a repeat of the latest (same reason and message) bumps its count."""
        with self.session() as s:
            last = s.scalars(
                select(EventRow)
                .where(EventRow.kind == kind, EventRow.namespace == namespace, EventRow.name == name)
                .order_by(EventRow.id.desc())
            ).first()
            if last is not None and last.reason == reason and last.message == message and last.type == type_:
                last.count += 1
                last.last_time = now_iso()
                return
            s.add(
                EventRow(
                    kind=kind, namespace=namespace, name=name, type=type_, reason=reason, message=message
                )
            )

    def events(
        self, kind: str | None = None, namespace: str | None = None, name: str | None = None
    ) -> builtins.list[EventRow]:
        with self.session() as s:
            q = select(EventRow).order_by(EventRow.id)
            if kind:
                q = q.where(EventRow.kind == kind)
            if namespace:
                q = q.where(EventRow.namespace == namespace)
            if name:
                q = q.where(EventRow.name == name)
            return list(s.scalars(q))

    # ---- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaRow, key)
            return None if row is None else row.value

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s:
            row = s.get(MetaRow, key)
            if row is None:
                s.add(MetaRow(key=key, value=value))
            else:
                row.value = value
