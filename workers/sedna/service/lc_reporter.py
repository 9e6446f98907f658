"""Sedna's ``LCReporter``: a thread that reports inference counters to the LC.

``LCReporter(lc_server, message, period_interval=30)`` takes the report body to send (``name``,
``namespace``, ``ownerName``, ``ownerKind``, ``kind``...) and fills its ``ownerInfo`` with the
counters each period that saw new inferences. ``JointInference``'s reporter is this class with
its job's report path and one more counter (see ``InferenceReporter``).
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

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class LCReporter(threading.Thread):
    """Counts edge and collaborative inferences; reports them every ``period_interval`` s.

    As in Sedna, each sample is counted once: ``update_for_edge_inference`` for one answered at
    the edge, ``update_for_collaboration_inference`` for one sent to the cloud (an inference and
    a hard example).
    """

    def __init__(self, lc_server: str, message: dict[str, Any], period_interval: float = 30) -> None:
        super().__init__(name="lc-reporter", daemon=True)
        self.lc_server = lc_server
        self.message = message
        self.period_interval = float(period_interval)
        self.lock = threading.Lock()
        self.start_time = time.time()
        self.inference_number = 0
        self.hard_example_number = 0
        self._reported = 0
        self.stop_event = threading.Event()

    def update_for_edge_inference(self) -> None:
        """One sample answered at the edge."""
        with self.lock:
            self.inference_number += 1

    def update_for_collaboration_inference(self) -> None:
        """One sample sent to the cloud (it is an inference too, as Sedna counts it)."""
        with self.lock:
            self.inference_number += 1
            self.hard_example_number += 1

    def owner_info(self) -> dict[str, Any]:
        """The counters, as Sedna's ``ownerInfo`` of an inference report."""
        with self.lock:
            n, hard = self.inference_number, self.hard_example_number
        return {
            "startTime": time.strftime(_TIME_FORMAT, time.localtime(self.start_time)),
            "updateTime": time.strftime(_TIME_FORMAT),
            "inferenceNumber": n,
            "hardExampleNumber": hard,
            "uploadCloudRatio": hard / n if n else 0.0,
        }

    def body(self) -> dict[str, Any]:
        """The message with the current counters in ``ownerInfo``."""
        body = copy.deepcopy(self.message)
        body.setdefault("results", [])
        body["ownerInfo"] = self.owner_info()
        return body

    def send(self) -> bool:
        """Deliver one report now (subclasses report through their job)."""
        body = self.body()
        return LCClient.send(self.lc_server, str(body.get("name", "")), body)

    def report_once(self, force: bool = False) -> bool:
        """Report when there were inferences since the last report (or ``force``); True when sent."""
        with self.lock:
            n = self.inference_number
        if n == self._reported and not force:
            return False
        self._reported = n
        return self.send()

    def run(self) -> None:
        while not self.stop_event.wait(self.period_interval):
            try:
                self.report_once()
            except Exception as err:  # a report must never end the worker
                LOG.error("inference report failed: %s", err)

    def stop(self) -> None:
        self.stop_event.set()
