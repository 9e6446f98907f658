"""Running the LC: ``serve`` (blocking, the DaemonSet's entry point) and :class:`LCServer`
(a background uvicorn thread for the local runtime and tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .datasets import DatasetMonitor
from .metrics import LCMetrics
from .settings import LCSettings
from .sinks import ReportSink

__all__ = ["serve", "serve_async", "LCServer", "bind_socket"]

log = logging.getLogger("sedna.lc")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: a free port, read back from ``getsockname()``).

    The protocol is given explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
    ``proto`` is IPPROTO_TCP, and without it keep-alive responses wait ~40 ms for delayed ACKs.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when it is installed (as uvicorn does), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _config(app: FastAPI, settings: LCSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,  # quiet: one line per report would drown everything else
        lifespan="off",
        server_header=False,
    )


async def serve_async(
    settings: LCSettings,
    sink: ReportSink,
    *,
    monitor: DatasetMonitor | None = None,
    metrics: LCMetrics | None = None,
) -> None:
    """Serve until cancelled or signalled; runs ``monitor`` beside the HTTP API when given."""
    metrics = metrics if metrics is not None else (monitor.metrics if monitor else None) or LCMetrics()
    if monitor is not None and monitor.metrics is None:
        monitor.metrics = metrics
    server = uvicorn.Server(_config(create_app(settings, sink, metrics=metrics), settings))
    task = asyncio.create_task(monitor.run()) if monitor is not None else None
    try:
        await server.serve()
    finally:
        if monitor is not None and task is not None:
            monitor.stop()
            with contextlib.suppress(Exception):
                await task


def serve(
    settings: LCSettings,
    sink: ReportSink,
    *,
    monitor: DatasetMonitor | None = None,
    metrics: LCMetrics | None = None,
) -> None:
    """Blocking entry point (``sedna lc``): serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log.info("sedna lc listening on %s:%d node=%s auth=%s", settings.host, settings.port, settings.node_name,
             settings.auth_required)  # fmt: skip
    _run(serve_async(settings, sink, monitor=monitor, metrics=metrics))


class LCServer:
    """An LC served by uvicorn on a background thread; ``url`` is known once started.

    >>> with LCServer(LCSettings.for_local(secret="s"), MemoryReportSink()) as lc:  # doctest: +SKIP
    ...     httpx.post(f"{lc.url}/sedna/workers/w/info", ...)
    """

    def __init__(
        self,
        settings: LCSettings,
        sink: ReportSink,
        *,
        monitor: DatasetMonitor | None = None,
        metrics: LCMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.monitor = monitor
        self.metrics = (
            metrics if metrics is not None else (monitor.metrics if monitor else None) or LCMetrics()
        )
        if monitor is not None and monitor.metrics is None:
            monitor.metrics = self.metrics
        self.app = create_app(settings, sink, metrics=self.metrics)
        self._server = uvicorn.Server(_config(self.app, settings))
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._monitor_task: asyncio.Task[None] | None = None
        self.port = settings.port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LCServer:
        """Bind, start serving on a thread, and wait until requests are answered."""
        self._sock = bind_socket(self.settings.host, self.settings.port)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._thread_main, name=f"sedna-lc-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"LC did not start on {self.url}")
            time.sleep(0.01)
        return self

    def _thread_main(self) -> None:
        _run(self._main())

    async def _main(self) -> None:
        if self.monitor is not None:
            self._monitor_task = asyncio.create_task(self.monitor.run())
        try:
            assert self._sock is not None
            await self._server.serve(sockets=[self._sock])
        finally:
            if self.monitor is not None and self._monitor_task is not None:
                self.monitor.stop()
                with contextlib.suppress(Exception):
                    await self._monitor_task

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> LCServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
