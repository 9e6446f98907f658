"""The LC's sinks on a cluster: worker reports and dataset counts go to the resources' status.

A report becomes a JSON merge patch ``{"status": {"reports": {<worker>: {...}}}}`` on the
owner's ``/status`` subresource: the map is keyed by worker, so the patch never touches the
operator's keys (phase, conditions, counters) nor another worker's report. Dataset counts
become ``{"status": {"numberOfSamples": N, "updateTime": ...}}`` on the Dataset.

When the API server cannot be reached (or answers 5xx / 429), the patch is appended to a
JSONL spool file under the LC's data directory (fsync'ed before ``record`` returns, so the
worker's 200 still means "durable") and replayed in order once the server answers again.
While the spool holds anything, new patches queue behind it, so a newer report can never be
overwritten by an older one being replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...controllers.plan import EventPlan, WorkerReport
from ...lc.models import OwnerKey, report_from_wire, report_to_wire
from ...lc.sinks import DatasetEvent, DatasetKey
from .apply import post_event
from .client import MERGE_PATCH, ApiError, KubeClient, is_transient
from .observe import resource_path

__all__ = ["KubernetesReportSink", "SPOOL_FILE"]

log = logging.getLogger("sedna.lc")
SPOOL_FILE = "lc-status-spool.jsonl"


class KubernetesReportSink:
    """``ReportSink`` + ``ReportStore`` + ``DatasetSink`` backed by the API server and a spool."""

    def __init__(self, client: KubeClient, spool_dir: str | Path, *, retry_seconds: float = 5.0):
        self.client = client
        self.spool_path = Path(spool_dir) / SPOOL_FILE
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        self.retry_seconds = retry_seconds
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    # ReportSink / ReportStore ------------------------------------------------------------

    async def record(self, owner: OwnerKey, report: WorkerReport) -> None:
        """Merge-patch ``status.reports.<worker>``; spool it if the API server is unreachable."""
        path = resource_path(owner.kind, owner.namespace, owner.name, "status")
        await self._submit(path, {"status": {"reports": {report.worker: report_to_wire(report)}}})

    async def latest(self, owner: OwnerKey, worker: str) -> WorkerReport | None:
        """The newest stored report of ``worker``: the spool's if it holds one, else the resource's."""
        path = resource_path(owner.kind, owner.namespace, owner.name, "status")
        for entry in reversed(self._read_spool()):
            wire = entry["patch"].get("status", {}).get("reports", {}).get(worker)
            if entry["path"] == path and wire:
                return report_from_wire(worker, wire)
        try:
            body = await self.client.request("GET", resource_path(owner.kind, owner.namespace, owner.name))
        except ApiError as exc:
            if exc.not_found or is_transient(exc):
                return None
            raise
        wire = ((body.get("status") or {}).get("reports") or {}).get(worker)
        return report_from_wire(worker, wire) if wire else None

    async def patch_status(self, path: str, patch: dict[str, Any]) -> None:
        """Merge-patch a status subresource (e.g. an IL/LL job's ``lcState``), spooled like reports."""
        await self._submit(path, patch)

    # DatasetSink -------------------------------------------------------------------------

    async def samples_changed(
        self, key: DatasetKey, number_of_samples: int, new_lines: list[str], first_index: int
    ) -> None:
        """Record the new count on ``Dataset.status`` (the lines themselves stay on the node)."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"status": {"numberOfSamples": number_of_samples, "updateTime": now}}
        await self._submit(resource_path("Dataset", key.namespace, key.name, "status"), patch)

    async def event(self, key: DatasetKey, event: DatasetEvent) -> None:
        """A Kubernetes Event on the Dataset (best effort, not spooled)."""
        ref = {
            "apiVersion": "sedna.io/v1alpha1",
            "kind": "Dataset",
            "name": key.name,
            "namespace": key.namespace,
        }
        kind = "Warning" if event.type == "Warning" else "Normal"
        await post_event(self.client, ref, EventPlan(type=kind, reason=event.reason, message=event.message))

    # Spool -------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Number of patches waiting in the spool."""
        return len(self._read_spool())

    async def _submit(self, path: str, patch: dict[str, Any]) -> None:
        async with self._lock:
            if self.spool_path.exists() and self.spool_path.stat().st_size:
                self._append({"path": path, "patch": patch})
                await self._flush_locked()
                return
            try:
                await self._patch(path, patch)
            except ApiError as exc:
                if not is_transient(exc):
                    raise
                log.warning("API server unavailable, spooling status patch path=%s error=%s", path, exc)
                self._append({"path": path, "patch": patch})
                self._start_flusher()

    async def _patch(self, path: str, patch: dict[str, Any]) -> None:
        await self.client.request("PATCH", path, patch, content_type=MERGE_PATCH)

    def _append(self, entry: dict[str, Any]) -> None:
        with self.spool_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _read_spool(self) -> list[dict[str, Any]]:
        if not self.spool_path.exists():
            return []
        entries = []
        for line in self.spool_path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a torn last line from a crash
                entries.append(json.loads(line))
        return entries

    def _rewrite(self, entries: list[dict[str, Any]]) -> None:
        tmp = self.spool_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in entries)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.spool_path)

    async def flush(self) -> int:
        """Replay the spool in order; return how many patches are still waiting."""
        async with self._lock:
            return await self._flush_locked()

    async def _flush_locked(self) -> int:
        entries = self._read_spool()
        sent = 0
        for entry in entries:
            try:
                await self._patch(entry["path"], entry["patch"])
            except ApiError as exc:
                if is_transient(exc):
                    break
                log.error("dropping spooled status patch path=%s error=%s", entry["path"], exc)
            sent += 1
        if sent:
            self._rewrite(entries[sent:])
            log.info("replayed %d spooled status patch(es), %d left", sent, len(entries) - sent)
        if len(entries) > sent:
            self._start_flusher()
        return len(entries) - sent

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_until_empty())

    async def _flush_until_empty(self) -> None:
        while True:
            await asyncio.sleep(self.retry_seconds)
            if await self.flush() == 0:
                return

    def resume(self) -> None:
        """Start replaying a spool left by a previous run (call once the loop runs)."""
        if self.spool_path.exists() and self.spool_path.stat().st_size:
            self._start_flusher()

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.client.close()

