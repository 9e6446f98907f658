"""A service in a child process that reports its own memory, for test_bounded_memory.py.

``python -m tests.adversarial.memserver {lc|market|inference} <tmpdir>`` serves the app on a
free loopback port and prints ``READY <port>``. Every line read from stdin is answered with
``<rss_now_kb> <peak_rss_kb>`` (after a full garbage collection when the line is ``gc``): the RSS now and the peak RSS since the previous line (Linux's
``VmHWM``, reset through ``/proc/self/clear_refs`` after each answer), so a test takes the RSS
before a request and the peak after it: their difference bounds what the request cost.
"""

from __future__ import annotations

import gc
import re
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import uvicorn


def build(which: str, tmp: Path) -> Any:
    if which == "lc":
        from sedna_operator.lc import LCSettings, MemoryReportSink, create_app

        return create_app(LCSettings.for_local(secret="mem-secret"), MemoryReportSink())
    if which == "market":
        from tests.adversarial.market_support import market_app, package_files, submit

        app = market_app(tmp)
        assert submit(app, package_files()).status_code == 202
        return app
    if which == "inference":
        from sedna.service.server.inference import InferenceServer

        class Echo:
            def inference(self, data: Any, **_: Any) -> Any:
                return len(data) if hasattr(data, "__len__") else 0

        return InferenceServer(Echo(), servername="mem").app
    raise SystemExit(f"unknown app {which!r}")


def peak_kb() -> int:
    """Peak RSS since the last :func:`reset_peak` (the process's lifetime peak if it cannot reset)."""
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def main() -> None:
    which, tmp = sys.argv[1], Path(sys.argv[2])
    app = build(which, tmp)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    print(f"READY {port}", flush=True)
    me = psutil.Process()
    reset_peak()
    for line in sys.stdin:
        if line.strip() == "gc":
            gc.collect()
        print(me.memory_info().rss // 1024, peak_kb(), flush=True)
        reset_peak()
    server.should_exit = True


if __name__ == "__main__":
    main()
