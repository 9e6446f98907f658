"""Sedna's ``LCReporter``: a thread that reports inference counters to the LC.

``LCReporter(lc_server, message, period_interval=30)`` takes the report body to send (``name``,
``namespace``, ``ownerName``, ``ownerKind``, ``kind``...) and fills its ``ownerInfo`` with the
counters each period that saw new inferences. ``JointInference``'s reporter is this class with
its job's report path and one more counter (see ``InferenceReporter``); ``JobReporter`` is the
part they share with lifelong learning's inference worker: reports go through the worker's job
and the last period's counts are sent when the process exits.
"""

from __future__ import annotations

import atexit
import copy
import threading
import time
import weakref
from typing import Any

from sedna.common.log import get_logger
from sedna.service.lc_client import LCClient

__all__ = ["LCReporter", "JobReporter"]

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


class JobReporter(LCReporter):
    """An :class:`LCReporter` of one worker's job: reports are ``kind=inference``, status
    ``running``, sent through ``job.report_task_info`` (so they name the worker, the job and carry
    its report token) every ``period`` seconds with new activity, and once more at exit."""

    def __init__(self, job: Any, period: float, name: str = "lc-reporter") -> None:
        super().__init__(job.lc_server, {}, period)
        self.name = name
        self.job = job
        _flush_at_exit(self)

    def send(self) -> bool:
        self.job.report_task_info(self.owner_info(), "running", kind="inference")
        return True

    def flush(self) -> bool:
        """The last report of a worker that ends: the counts of its last period (a finite stream
        would otherwise end with up to one period of inferences unreported). Nothing is sent
        after :meth:`stop` or when everything was reported."""
        if self.stop_event.is_set():
            return False
        try:
            return self.report_once()
        except Exception as err:
            LOG.error("final inference report failed: %s", err)
            return False


_REPORTERS: weakref.WeakSet[JobReporter] = weakref.WeakSet()
_EXIT_HOOK: list[bool] = []


def _flush_at_exit(reporter: JobReporter) -> None:
    if not _EXIT_HOOK:
        atexit.register(_flush_reporters)
        _EXIT_HOOK.append(True)
    _REPORTERS.add(reporter)


def _flush_reporters() -> None:
    for reporter in list(_REPORTERS):
        reporter.flush()
