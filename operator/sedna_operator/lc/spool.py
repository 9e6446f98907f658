"""Reports a worker could not deliver before it ended, delivered by ``sedna run`` instead.

Workers buffer the reports the LC did not take (it is down while ``sedna run`` is) in
``LC_REPORT_BUFFER_DIR/lc-reports.jsonl``, which the local runtime points into the worker's pod
directory. A worker that is still running delivers them itself once the LC is back; one that
ended meanwhile cannot, so when the runner sees a worker's process end (in this run or while no
``sedna run`` was watching) it posts that file to the LC, in order, with the job's report token,
before the worker's end is recorded: the controller sees the reports before it sees the worker
finished, as it would have had the LC never been down.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx

__all__ = ["BUFFER_ENV", "BUFFER_FILE", "buffer_dir", "deliver_buffered_reports"]

LOGGER = logging.getLogger(__name__)

BUFFER_ENV = "LC_REPORT_BUFFER_DIR"
BUFFER_FILE = "lc-reports.jsonl"


def buffer_dir(pod_dir: Path) -> Path:
    """Where a worker of ``pod_dir`` keeps the reports it could not deliver."""
    return pod_dir / "reports"


def _read(path: Path) -> list[dict[str, Any]]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:  # the worker writes whole files atomically; a bad line is foreign
            LOGGER.warning("%s line %d is not a report; skipped", path, number)
            continue
        if isinstance(item, dict) and isinstance(item.get("worker"), str) and isinstance(item.get("message"), dict):
            items.append(item)
    return items


def deliver_buffered_reports(pod_dir: Path, lc_url: str, token: str | None, timeout: float = 10.0) -> int:
    """Post the reports left in ``pod_dir``'s buffer to the LC at ``lc_url``; returns how many were
    delivered. What the LC refuses for good (4xx) is dropped, as the worker itself would; what
    cannot be sent now (the LC unreachable, 5xx) stays in the file for the next attempt."""
    path = buffer_dir(pod_dir) / BUFFER_FILE
    if not path.is_file():
        return 0
    items = _read(path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    delivered = 0
    left = list(items)
    with httpx.Client(timeout=timeout) as client:
        while left:
            item = left[0]
            try:
                resp = client.post(f"{lc_url.rstrip('/')}/sedna/workers/{item['worker']}/info",
                                   json=item["message"], headers=headers)
            except httpx.TransportError as exc:
                LOGGER.warning("buffered reports of %s not delivered yet: %s", pod_dir.name, exc)
                break
            if resp.status_code >= 500:
                LOGGER.warning("buffered reports of %s not delivered yet: LC answered %d", pod_dir.name, resp.status_code)
                break
            if resp.status_code >= 400:
                LOGGER.error("LC refused a buffered report of %s (%d): %s", pod_dir.name, resp.status_code, resp.text[:200])
            else:
                delivered += 1
            left.pop(0)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(i) + "\n" for i in left), encoding="utf-8")
    tmp.replace(path)
    if delivered:
        LOGGER.info("delivered %d report(s) %s buffered before it ended", delivered, pod_dir.name)
    return delivered
