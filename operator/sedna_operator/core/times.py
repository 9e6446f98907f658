"""RFC 3339 times as Kubernetes writes them, read and written in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["iso", "parse_time"]


def iso(now: datetime) -> str:
    """RFC 3339 text of a time, as Kubernetes writes it (``Z`` for UTC)."""
    return now.isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """A time read back from an object (RFC 3339 text with ``Z`` or an offset, or already a
    datetime); None when absent or unreadable. A time without zone is taken as UTC, so that
    times from different writers compare."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
