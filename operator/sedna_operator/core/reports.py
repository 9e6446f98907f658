"""The one wire codec of worker reports as they live in ``status.reports.<worker>``.

The LC writes them (camelCase, like the rest of status); both runtimes read them back into the
reconcilers' :class:`~sedna_operator.controllers.plan.WorkerReport` with :func:`reports_of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..controllers.plan import WorkerReport
from .times import parse_time

__all__ = ["report_to_wire", "report_from_wire", "parse_report", "reports_of"]


def report_to_wire(report: WorkerReport) -> dict[str, Any]:
    """The JSON stored under ``status.reports.<worker>``."""
    return {
        "kind": report.kind,
        "status": report.status,
        "ownerInfo": report.owner_info,
        "results": report.results,
        "receivedAt": report.received_at.isoformat(),
        "sequence": report.sequence,
    }


def report_from_wire(worker: str, data: Mapping[str, Any]) -> WorkerReport:
    """Inverse of :func:`report_to_wire`; snake_case keys (older writers) are accepted too.
    Raises ValueError (pydantic's ValidationError included) on a malformed entry."""
    received = data.get("receivedAt", data.get("received_at"))
    return WorkerReport(
        worker=worker,
        kind=str(data.get("kind", "")),
        status=str(data.get("status", "")),
        owner_info=data.get("ownerInfo", data.get("owner_info")) or {},
        results=data.get("results") or [],
        # an entry without a time is taken as just received (it is the latest one)
        received_at=datetime.now(UTC) if received in (None, "") else _strict_time(received),
        sequence=int(data.get("sequence") or 0),
    )


def _strict_time(value: Any) -> datetime:
    when = parse_time(value)
    if when is None:
        raise ValueError(f"unreadable receivedAt {value!r}")
    return when


def parse_report(worker: str, data: Any) -> WorkerReport | None:
    """:func:`report_from_wire`, or None for an entry no reconciler can use."""
    if not isinstance(data, Mapping):
        return None
    try:
        return report_from_wire(worker, data)
    except (ValidationError, ValueError, TypeError):
        return None


def reports_of(obj: Mapping[str, Any]) -> dict[str, WorkerReport]:
    """The latest report of each worker, from ``status.reports`` of a resource object."""
    out = {}
    for worker, body in ((obj.get("status") or {}).get("reports") or {}).items():
        if (report := parse_report(str(worker), body)) is not None:
            out[str(worker)] = report
    return out
