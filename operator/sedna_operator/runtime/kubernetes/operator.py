"""Running the operator: in the foreground (``sedna operator``) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

import kopf

from .client import KubeClient, load_credentials
from .config import OperatorConfig
from .engine import Engine, load_controllers
from .handlers import build_registry, make_settings
from .metrics import serve_metrics

__all__ = ["run_operator", "OperatorThread"]

log = logging.getLogger("sedna.operator")


async def _resync_forever(engine: Engine, period: float) -> None:
    while True:
        await asyncio.sleep(period)
        await engine.resync()


def build_engine(config: OperatorConfig, controllers: Mapping[str, Any] | None = None) -> Engine:
    """The reconcile engine, with its API client (built inside the loop that will run it)."""
    client = KubeClient(load_credentials(config.kubeconfig, config.context))
    return Engine(client, config, load_controllers() if controllers is None else controllers)


async def run_operator(
    config: OperatorConfig,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    engine: Engine | None = None,
) -> None:
    """Run until ``stop_flag`` is set (or forever), with ``engine`` or one built from ``config``."""
    if engine is None:
        engine = build_engine(config)
    registry = build_registry(engine, config)
    settings = make_settings(config)
    if config.metrics_port:
        serve_metrics(config.metrics_port)
    resync = (
        asyncio.create_task(_resync_forever(engine, config.resync_seconds))
        if config.resync_seconds > 0
        else None
    )
    log.info(
        "sedna operator starting: kinds=%s namespaces=%s peering=%s",
        sorted(engine.controllers), list(config.namespaces) or "all", config.peering or "standalone",
    )  # fmt: skip
    try:
        await kopf.operator(
            registry=registry,
            settings=settings,
            standalone=config.peering is None,
            peering_name=config.peering,
            priority=config.priority,
            clusterwide=not config.namespaces,
            namespaces=list(config.namespaces),
            liveness_endpoint=f"http://0.0.0.0:{config.health_port}/healthz" if config.health_port else None,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        if resync is not None:
            resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resync
        await engine.close()


# Loops of operators stopped with OperatorThread.kill(), kept alive until the process exits.
_ABANDONED: list[tuple[asyncio.AbstractEventLoop, set[asyncio.Task[Any]]]] = []


class OperatorThread:
    """The operator in a thread with its own event loop; ``stop()`` ends it as SIGTERM would.

    ``kill()`` abandons it mid-cycle instead: the loop is stopped wherever it is, as if the
    process died (for restart tests).
    """

    def __init__(self, config: OperatorConfig, controllers: Mapping[str, Any] | None = None):
        self.config = config
        self.controllers = controllers
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self.engines: list[Engine] = []
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._killed = False
        self._thread = threading.Thread(target=self._main, name="sedna-operator", daemon=True)

    @property
    def engine(self) -> Engine:
        return self.engines[0]

    async def _serve(self) -> None:
        # The engine (and its API client) is made in the loop that runs it; tests reach it
        # through .engine.
        self.engines.append(build_engine(self.config, self.controllers))
        await run_operator(self.config, stop_flag=self.stop_flag, ready_flag=self.ready_flag, engine=self.engines[-1])

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to the test through .error
            self.error = exc
        finally:
            if self._killed:
                # A killed operator must not run another step, not even cleanup: it "died".
                # Its loop and tasks are kept referenced, as a dead process's memory is never
                # reclaimed step by step; collecting them would run their cleanup halfway.
                _ABANDONED.append((self.loop, asyncio.all_tasks(self.loop)))
            else:
                self._drain_and_close(self.loop)

    @staticmethod
    def _drain_and_close(loop: asyncio.AbstractEventLoop) -> None:
        """Cancel what kopf left running and let it unwind before closing the loop, so no
        task dies with "no running event loop" when it is garbage-collected later."""
        with contextlib.suppress(Exception):
            if not loop.is_running():
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
        with contextlib.suppress(Exception):
            loop.close()

    def start(self, timeout: float = 60.0) -> OperatorThread:
        self._thread.start()
        if not self.ready_flag.wait(timeout):
            raise TimeoutError(f"the operator was not ready within {timeout}s (error: {self.error!r})")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_flag.set()
        self._thread.join(timeout)

    def kill(self) -> None:
        """Stop the loop abruptly, without kopf's graceful shutdown."""
        self._killed = True
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        # kopf waits for a threading.Event stop flag in an executor thread; release it, or
        # that thread would keep the interpreter from exiting.
        self.stop_flag.set()

    def __enter__(self) -> OperatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
