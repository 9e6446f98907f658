"""Running a FastAPI app under uvicorn: blocking (as Sedna's ``start()``) or in a thread."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

import uvicorn

from sedna.service._log import LOGGER

__all__ = ["BaseServer"]


class BaseServer:
    """Owns one uvicorn server for ``self.app``.

    ``start()`` blocks until the server stops; ``start_background()`` returns once it listens
    (tests and embedding); ``stop()`` asks it to exit.
    """

    app: Any

    def __init__(self, servername: str, host: str = "0.0.0.0", http_port: int = 8080, ws_size: int | None = None):
        self.server_name = servername
        self.host = host
        self.http_port = int(http_port)
        self.ws_size = ws_size
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _config(self) -> uvicorn.Config:
        kwargs: dict[str, Any] = {"log_level": "warning", "lifespan": "on"}
        if self.ws_size is not None:
            kwargs["ws_max_size"] = int(self.ws_size)
        return uvicorn.Config(self.app, host=self.host, port=self.http_port, **kwargs)

    @property
    def port(self) -> int:
        """The bound port (useful with ``http_port=0``)."""
        if self._server is not None and self._server.started:
            for server in self._server.servers:
                for sock in server.sockets:
                    return int(sock.getsockname()[1])
        return self.http_port

    def start(self) -> None:
        """Serve until stopped (blocks, like Sedna's servers).

        A worker whose main job is this server shows its progress (rounds, model loads) at
        INFO, as Sedna's servers do: the SDK's quiet default is raised unless ``LOG_LEVEL``
        chooses otherwise."""
        if "LOG_LEVEL" not in os.environ and LOGGER.getEffectiveLevel() > logging.INFO:
            LOGGER.setLevel(logging.INFO)
        self._server = uvicorn.Server(self._config())
        self._server.run()

    def start_background(self, timeout: float = 15.0) -> BaseServer:
        """Serve in a daemon thread; returns when the socket is listening."""
        self._server = uvicorn.Server(self._config())
        server = self._server

        def _run() -> None:
            asyncio.run(server.serve())

        self._thread = threading.Thread(target=_run, name=f"server-{self.server_name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server {self.server_name} did not start on {self.host}:{self.http_port}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Join a background server; True when it has stopped."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()
