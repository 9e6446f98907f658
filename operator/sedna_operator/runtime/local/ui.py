"""Tables of resources and workers (``sedna get`` and the live view of ``sedna run``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table

from ...api import KINDS
from .jsonpath import age, evaluate, render_value
from .store import ResourceRow, Store, WorkerRow

__all__ = ["resource_table", "worker_table", "live_view", "columns_of"]


def columns_of(kind: str, obj: dict[str, Any], now: datetime | None = None) -> list[str]:
    """The printer-column cells of ``obj`` (same columns as ``kubectl get``)."""
    return [render_value(evaluate(obj, col.json_path), col.type, now) for col in KINDS[kind].columns]


def resource_table(
    kind: str, rows: list[ResourceRow], *, wide: bool = False, store: Store | None = None
) -> Table:
    info = KINDS[kind]
    table = Table(title=info.plural, title_justify="left", box=None, header_style="bold")
    table.add_column("NAMESPACE" if wide else "NAME")
    if wide:
        table.add_column("NAME")
    for col in info.columns:
        table.add_column(col.name.upper())
    if wide:
        table.add_column("WORKERS")
    now = datetime.now(UTC)
    for row in rows:
        cells = [row.namespace, row.name] if wide else [row.name]
        cells += columns_of(kind, row.obj, now)
        if wide and store is not None:
            cells.append(
                ", ".join(f"{w.role}:{w.phase}" for w in store.workers(kind, row.namespace, row.name))
            )
        table.add_row(*cells)
    return table


def worker_table(workers: list[WorkerRow]) -> Table:
    table = Table(title="workers", title_justify="left", box=None, header_style="bold")
    for col in ("NAME", "OWNER", "ROLE", "PHASE", "PID", "EXIT", "RESTARTS", "AGE"):
        table.add_column(col)
    now = datetime.now(UTC)
    for w in workers:
        phase = w.phase if not w.message else f"{w.phase} ({w.message[:60]})"
        table.add_row(
            w.name,
            f"{w.owner_kind}/{w.owner_name}",
            w.role,
            phase,
            str(w.pid or "-"),
            "-" if w.exit_code is None else str(w.exit_code),
            str(w.restarts),
            age(w.created_at, now),
        )
    return table


#: Rows of one table in the live view. Rendering costs ~1 ms a row, redone every pass: 10,000
#: Datasets made each refresh 10 s (and the view useless); ``sedna get`` lists every row.
LIVE_ROWS = 40


def live_view(store: Store, elapsed: float, note: str = "") -> Group:
    """What ``sedna run`` shows while it runs: one table per kind present, then the workers."""
    parts: list[Any] = []
    rows = store.list()
    for kind in KINDS:
        of_kind = [r for r in rows if r.kind == kind]
        if of_kind and kind != "Model":
            parts.append(resource_table(kind, of_kind[:LIVE_ROWS]))
            if len(of_kind) > LIVE_ROWS:
                plural = KINDS[kind].plural
                parts.append(f"[dim]... and {len(of_kind) - LIVE_ROWS} more {plural} (sedna get {plural})[/]")
    workers = store.workers()
    if workers:
        parts.append(worker_table(workers[:LIVE_ROWS]))
        if len(workers) > LIVE_ROWS:
            parts.append(f"[dim]... and {len(workers) - LIVE_ROWS} more workers (sedna get -o wide)[/]")
    parts.append(f"[dim]{elapsed:5.1f}s elapsed  state: {store.state_dir}{'  ' + note if note else ''}[/]")
    return Group(*parts)
