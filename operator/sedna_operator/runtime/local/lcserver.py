"""The embedded local controller: the LC app (``sedna_operator.lc``) served on 127.0.0.1 in a thread.

Reports and dataset counts land in the LC's SQLite sink at ``<state>/lc.db``, so they survive
a killed ``sedna run`` and the next run reads them back (no report lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import uvicorn

__all__ = ["LocalLC", "free_port", "port_is_free"]


def free_port() -> int:
    """A TCP port nobody listens on at the moment (on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. SO_REUSEADDR as the server itself binds
    (uvicorn does): a killed run's port has connections in TIME_WAIT for a minute, and probing
    without it called the port taken, so a resumed run moved its LC and the workers it adopted
    kept reporting to the old port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class LocalLC:
    """Starts the LC HTTP app and runs background coroutines (dataset monitor) on its loop."""

    def __init__(self, state_dir: Path, secret: str | None, port: int | None = None) -> None:
        from ...lc.app import create_app
        from ...lc.settings import LCSettings
        from ...lc.sqlite_sink import SQLiteSink

        self.port = port or free_port()
        self.settings = LCSettings.for_local(secret=secret, port=self.port, node_name="localhost")
        self.sink = SQLiteSink(Path(state_dir) / "lc.db")
        self.app = create_app(self.settings, self.sink)
        self.loop = asyncio.new_event_loop()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="sedna-local-lc", daemon=True)
        self._tasks: list[Any] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the local controller did not start on 127.0.0.1:{self.port}")
            time.sleep(0.02)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` on the LC's event loop (e.g. the dataset monitor)."""
        self._tasks.append(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self.sink.close()
