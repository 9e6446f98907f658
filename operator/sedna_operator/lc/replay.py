"""Per-worker report sequences: replayed (not increasing) sequences are refused.

A worker may number its reports (header ``X-Sedna-Report-Seq`` or body field ``sequence``).
A numbered report whose sequence is not greater than the last one accepted from that worker
is a replay and is refused with 409. Unnumbered reports (Sedna's SDK sends none) are
accepted and given ``last + 1``, so ``WorkerReport.sequence`` always increases per worker
and reconcilers can tell a new report from one they have already seen.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable

from ..controllers.plan import WorkerReport
from .models import OwnerKey
from .sinks import ReportSink, ReportStore

__all__ = ["ReplayError", "SequenceGuard"]

_STRIPES = 64


class ReplayError(Exception):
    """The report's sequence is not greater than the last accepted one."""

    def __init__(self, sequence: int, last: int) -> None:
        super().__init__(
            f"replayed report: sequence {sequence} is not greater than {last}, the last accepted"
        )
        self.sequence = sequence
        self.last = last


class SequenceGuard:
    """Checks and advances sequences atomically per (owner, worker) around a sink write."""

    def __init__(self, sink: ReportSink) -> None:
        self._sink = sink
        self._last: dict[tuple[OwnerKey, str], int] = {}
        self._locks = [asyncio.Lock() for _ in range(_STRIPES)]

    def _lock(self, owner: OwnerKey, worker: str) -> asyncio.Lock:
        return self._locks[zlib.crc32(f"{owner}/{worker}".encode()) % _STRIPES]

    async def _last_sequence(self, owner: OwnerKey, worker: str) -> int:
        key = (owner, worker)
        if key not in self._last:
            latest = await self._sink.latest(owner, worker) if isinstance(self._sink, ReportStore) else None
            self._last[key] = latest.sequence if latest is not None else 0
        return self._last[key]

    async def admit(
        self,
        owner: OwnerKey,
        worker: str,
        sequence: int | None,
        write: Callable[[int], Awaitable[WorkerReport]],
    ) -> WorkerReport:
        """Run ``write(sequence_to_store)`` if the sequence is fresh; raise :class:`ReplayError` if not.

        The sequence only advances when ``write`` succeeds, so a failed write can be retried.
        """
        async with self._lock(owner, worker):
            last = await self._last_sequence(owner, worker)
            if sequence is not None and sequence <= last:
                raise ReplayError(sequence, last)
            stored = sequence if sequence is not None else last + 1
            report = await write(stored)
            self._last[(owner, worker)] = stored
            return report
