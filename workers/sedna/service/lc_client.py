"""Reports of a worker process to its local controller: :class:`LCClient` (Sedna's
``sedna.service.client.LCClient``, re-exported there).

A report that cannot be delivered (after a few quick retries with exponential backoff) is kept in
an in-memory FIFO, mirrored to a JSON-lines file when a buffer directory is configured
(``LC_REPORT_BUFFER_DIR``), and delivered in order by a background flusher once the LC answers
again. Sedna instead tries 5 times, 3 s apart, then drops the report.

It is a module of its own so that :mod:`sedna.service.lc_reporter` (which sends through it) and
:mod:`sedna.service.client` (which re-exports both) do not import each other.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sedna.service._log import LOGGER

__all__ = ["LCClient"]


def _auth_headers() -> dict[str, str]:
    token = os.environ.get("SEDNA_REPORT_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}

def _finite(value: Any) -> Any:
    """``value`` with every NaN/±Infinity float replaced by ``None`` (containers copied)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class LCClient:
    """Reports of one worker process to its local controller (``POST /sedna/workers/{name}/info``).

    ``LCClient.send(lc_server, worker_name, message)`` is Sedna's static entry point; it uses one
    shared client per LC address so that the order of reports is kept across calls.
    """

    _shared: dict[str, LCClient] = {}
    _shared_lock = threading.Lock()

    def __init__(
        self,
        server: str,
        buffer_dir: str | os.PathLike[str] | None = None,
        timeout: float = 5.0,
        attempts: int = 3,
        flush_interval: float = 2.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.flush_interval = flush_interval
        self._pending: deque[tuple[str, dict[str, Any]]] = deque()
        self._lock = threading.RLock()  # serialises delivery so reports stay in order
        self._client = httpx.Client(timeout=timeout)
        buffer_dir = buffer_dir if buffer_dir is not None else os.environ.get("LC_REPORT_BUFFER_DIR")
        self._buffer_file: Path | None = None
        if buffer_dir:
            Path(buffer_dir).mkdir(parents=True, exist_ok=True)
            self._buffer_file = Path(buffer_dir) / "lc-reports.jsonl"
            self._load_buffer()
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self.delivered = 0

    # -- Sedna's API -------------------------------------------------------------------------
    @staticmethod
    def send(lc_server: str, worker_name: str, message: dict[str, Any]) -> bool:
        """Deliver ``message`` (or buffer it); True when it reached the LC now."""
        return LCClient.shared(lc_server).report(worker_name, message)

    @classmethod
    def shared(cls, lc_server: str) -> LCClient:
        key = lc_server.rstrip("/")
        with cls._shared_lock:
            client = cls._shared.get(key)
            if client is None:
                client = cls._shared[key] = LCClient(key)
            return client

    # -- delivery ----------------------------------------------------------------------------
    def url(self, worker_name: str) -> str:
        return f"{self.server}/sedna/workers/{worker_name}/info"

    def report(self, worker_name: str, message: dict[str, Any]) -> bool:
        """Queue the report behind any buffered ones and try to deliver all of them in order.

        Non-finite numbers (a diverged loss is NaN) are sent as ``null``: JSON has no NaN, and
        the LC refuses a body that uses the non-standard literal.
        """
        with self._lock:
            self._pending.append((worker_name, _finite(message)))
            self._persist()
            delivered = self.flush()
        if not delivered:
            LOGGER.warning("LC %s unreachable; %d report(s) buffered", self.server, len(self._pending))
            self._ensure_flusher()
        return delivered

    def flush(self) -> bool:
        """Deliver buffered reports in FIFO order; stop at the first failure. True when empty."""
        with self._lock:
            while self._pending:
                worker_name, message = self._pending[0]
                try:
                    self._post(worker_name, message)
                except httpx.HTTPStatusError as err:
                    if 400 <= err.response.status_code < 500 and err.response.status_code not in (408, 429):
                        # the LC refused this body for good: retrying would block every later report
                        LOGGER.error("LC rejected report (%s): %s", err.response.status_code, message)
                        self._pending.popleft()
                        self._persist()
                        continue
                    return False
                except httpx.TransportError:
                    return False
                self._pending.popleft()
                self.delivered += 1
                self._persist()
            return True

    @property
    def pending(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        self._stop.set()
        self._client.close()

    def _post(self, worker_name: str, message: dict[str, Any]) -> None:
        for attempt in Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            retry=retry_if_exception_type(httpx.TransportError)
            | retry_if_exception_type(httpx.HTTPStatusError),
            reraise=True,
        ):
            with attempt:
                if self._client.is_closed:  # closed by close(); a late report still gets through
                    self._client = httpx.Client(timeout=self.timeout)
                resp = self._client.post(self.url(worker_name), json=message, headers=_auth_headers())
                resp.raise_for_status()

    def _ensure_flusher(self) -> None:
        if self._flusher is not None and self._flusher.is_alive():
            return
        self._flusher = threading.Thread(target=self._flush_loop, name="lc-report-flusher", daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            if self.flush():
                return

    def _persist(self) -> None:
        if self._buffer_file is None:
            return
        tmp = self._buffer_file.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for worker_name, message in self._pending:
                fh.write(json.dumps({"worker": worker_name, "message": message}) + "\n")
        tmp.replace(self._buffer_file)  # atomic: a crash leaves the old or the new list, never half

    def _load_buffer(self) -> None:
        assert self._buffer_file is not None
        if not self._buffer_file.exists():
            return
        for line in self._buffer_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                self._pending.append((item["worker"], item["message"]))
