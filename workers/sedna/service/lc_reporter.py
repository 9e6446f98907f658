"""Sedna's ``LCReporter``: a thread that reports inference counters to the LC.

``LCReporter(lc_server, message, period_interval=30)`` takes the report body to send (``name``,
``namespace``, ``ownerName``, ``ownerKind``, ``kind``...) and fills its ``ownerInfo`` with the
counters each period that saw new inferences. ``JointInference`` keeps its own reporter (with a
cloud-failure counter); this class is for scripts that build their own loop, as Sedna's did.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from sedna.common.log import get_logger
from sedna.service.client import LCClient

__all__ = ["LCReporter"]

LOG = get_logger("lc-reporter")


class LCReporter(threading.Thread):
    """Counts edge and collaborative inferences; reports them every ``period_interval`` s."""

    def __init__(self, lc_server: str, message: dict[str, Any], period_interval: float = 30) -> None:
        super().__init__(name="lc-reporter", daemon=True)
        self.lc_server = lc_server
        self.message = message
        self.period_interval = float(period_interval)
        self.lock = threading.Lock()
        self.start_time = time.strftime("%Y-%m-%d %H:%M:%S")
        self.inference_number = 0
        self.hard_example_number = 0
        self._reported = 0
        self._stop_event = threading.Event()

    def update_for_edge_inference(self) -> None:
        """One sample answered at the edge."""
        with self.lock:
            self.inference_number += 1

    def update_for_collaboration_inference(self) -> None:
        """One sample sent to the cloud (it is an inference too, as Sedna counts it)."""
        with self.lock:
            self.inference_number += 1
            self.hard_example_number += 1

    def body(self) -> dict[str, Any]:
        """The message with the current counters in ``ownerInfo``."""
        with self.lock:
            n, hard = self.inference_number, self.hard_example_number
        body = copy.deepcopy(self.message)
        body.setdefault("results", [])
        body["ownerInfo"] = {
            "startTime": self.start_time,
            "updateTime": time.strftime("%Y-%m-%d %H:%M:%S"),
            "inferenceNumber": n,
            "hardExampleNumber": hard,
            "uploadCloudRatio": hard / n if n else 0.0,
        }
        return body

    def report_once(self) -> bool:
        """Send when there were inferences since the last report; True when sent."""
        with self.lock:
            n = self.inference_number
        if n == self._reported:
            return False
        body = self.body()
        self._reported = n
        return LCClient.send(self.lc_server, str(body.get("name", "")), body)

    def run(self) -> None:
        while not self._stop_event.wait(self.period_interval):
            try:
                self.report_once()
            except Exception as err:  # a report must never end the worker
                LOG.error("inference report failed: %s", err)

    def stop(self) -> None:
        self._stop_event.set()
