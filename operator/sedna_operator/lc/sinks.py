"""Where accepted reports and dataset counts land: protocols plus the in-memory implementations.

Sedna's LC relays every worker message to the GM over its websocket, unchanged apart from
the envelope (``phase``=worker ``kind``, ``status``, ``output.models``=``results``,
``output.ownerInfo``) and the GM appends a condition. Here the LC records the latest report
of each worker (``status.reports.<worker>`` on the CR in a cluster; a SQLite table locally,
which ``sedna run``'s loop copies into the resource's ``status.reports``) and the reconcilers,
which read ``status.reports`` in both runtimes, turn it into conditions.
A sink must make the report durable *before* ``record`` returns: the worker gets its 200
only afterwards, so a report that was answered OK is never lost.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ..controllers.plan import WorkerReport
from .models import OwnerKey

__all__ = [
    "ReportSink",
    "ReportStore",
    "DatasetKey",
    "DatasetEvent",
    "DatasetSink",
    "MemoryReportSink",
    "MemoryDatasetSink",
]


@runtime_checkable
class ReportSink(Protocol):
    """Receives every accepted worker report (the Kubernetes sink merge-patches the CR status)."""

    async def record(self, owner: OwnerKey, report: WorkerReport) -> None: ...


@runtime_checkable
class ReportStore(ReportSink, Protocol):
    """A sink that can also read back the latest report of a worker.

    When the sink is a store, the replay guard learns the last accepted sequence of a worker
    from it after a restart, so an old report cannot be replayed to a fresh LC.
    """

    async def latest(self, owner: OwnerKey, worker: str) -> WorkerReport | None: ...


class DatasetKey(BaseModel):
    """A Dataset resource: namespace and name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class DatasetEvent(BaseModel):
    """Something a user should see about a dataset (becomes a Kubernetes Event / a log line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = "Warning"
    reason: str
    message: str


@runtime_checkable
class DatasetSink(Protocol):
    """Receives ``Dataset.status.numberOfSamples`` changes, new sample lines and events."""

    async def samples_changed(
        self, key: DatasetKey, number_of_samples: int, new_lines: list[str], first_index: int
    ) -> None:
        """The count changed. ``new_lines`` are the lines at indices ``first_index..`` (may be empty)."""
        ...

    async def event(self, key: DatasetKey, event: DatasetEvent) -> None: ...


class MemoryReportSink:
    """Keeps the latest report per worker and the full log in memory (tests, embedded use)."""

    def __init__(self) -> None:
        self._latest: dict[OwnerKey, dict[str, WorkerReport]] = defaultdict(dict)
        self.log: list[tuple[OwnerKey, WorkerReport]] = []

    async def record(self, owner: OwnerKey, report: WorkerReport) -> None:
        self._latest[owner][report.worker] = report
        self.log.append((owner, report))

    async def latest(self, owner: OwnerKey, worker: str) -> WorkerReport | None:
        return self._latest.get(owner, {}).get(worker)

    def reports(self, owner: OwnerKey) -> dict[str, WorkerReport]:
        """Latest report of every worker of ``owner`` (what ``Observation.reports`` wants)."""
        return dict(self._latest.get(owner, {}))

    def __len__(self) -> int:
        return len(self.log)


class MemoryDatasetSink:
    """Records dataset counts, new lines and events in memory."""

    def __init__(self) -> None:
        self.counts: dict[DatasetKey, int] = {}
        self.lines: dict[DatasetKey, list[str]] = defaultdict(list)
        self.events: list[tuple[DatasetKey, DatasetEvent]] = []

    async def samples_changed(
        self, key: DatasetKey, number_of_samples: int, new_lines: list[str], first_index: int
    ) -> None:
        self.counts[key] = number_of_samples
        self.lines[key].extend(new_lines)

    async def event(self, key: DatasetKey, event: DatasetEvent) -> None:
        self.events.append((key, event))
