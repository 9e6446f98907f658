"""The edge side of lifelong learning: hot update of the deployed knowledge base, unseen counts.

Sedna HEAD's edge knowledge management polls the deployed index (``ModelHotUpdateThread``,
every ``MODEL_POLL_PERIOD_SECONDS``, default 30) and swaps it in without a restart. Here the
check runs when the worker infers (never in the middle of a batch, so one batch is answered by
one index), and the deploy that the LC makes is an atomic rename, so a check never reads half a
file. The inference worker also reports how many samples it met and how many were unseen, which
the controller shows as ``status.knowledgeBase.samples.numberOfUnseenSample``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from sedna.service.lc_reporter import JobReporter

__all__ = ["IndexWatcher", "UnseenReporter", "DEFAULT_POLL_PERIOD"]

#: Sedna HEAD's default for the edge KB (``MODEL_POLL_PERIOD_SECONDS``)
DEFAULT_POLL_PERIOD = 30.0

_Stamp = tuple[int, int, int]


def _local_path(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return parsed.path if parsed.scheme else url
    return None  # a remote index (the KB's download URL) is not watched


class IndexWatcher:
    """Tells, at most once per ``period`` seconds, whether the index file at ``url`` was replaced
    since :meth:`mark_loaded` (its inode, mtime or size differ). Remote URLs are never watched."""

    def __init__(self, url: str | None, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = _local_path(url)
        self.period = max(0.0, float(period))
        self._clock = clock
        self._loaded: _Stamp | None = None
        self._checked_at = -math.inf

    def _stamp(self) -> _Stamp | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # mid-deploy or gone: keep serving what is loaded
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def mark_loaded(self) -> None:
        self._loaded = self._stamp()
        self._checked_at = self._clock()

    def changed(self) -> bool:
        now = self._clock()
        if self.path is None or now - self._checked_at < self.period:
            return False
        self._checked_at = now
        stamp = self._stamp()
        return stamp is not None and stamp != self._loaded


class UnseenReporter(JobReporter):
    """Counts the samples an LL inference worker answered and those it found unseen."""

    def __init__(self, job: Any, period: float) -> None:
        super().__init__(job, period, name="ll-lc-reporter")
        self.unseen_number = 0

    def count(self, samples: int, unseen: int) -> None:
        with self.lock:
            self.inference_number += samples
            self.unseen_number += unseen

    def owner_info(self) -> dict[str, Any]:
        info = super().owner_info()
        with self.lock:
            info["numberOfUnseenSample"] = self.unseen_number
        # LL has no hard examples: Sedna's JI counters are left out rather than sent as zeros
        for key in ("hardExampleNumber", "uploadCloudRatio"):
            info.pop(key, None)
        return info
