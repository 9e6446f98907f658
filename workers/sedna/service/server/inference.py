"""The big-model inference REST service (cloud side of joint inference).

Routes (``<service>`` is the service name, i.e. the JointInferenceService name):

* ``POST /<service>/predict`` body ``{"data": [...], "callback"?: name}`` -> ``{"result": [...]}``
  (Sedna's; ``callback`` names a CALLBACK registered in the serving process, applied to the
  model's output: ``model.inference(data, post_process=callback)``)
* ``GET /<service>`` -> the route list
* ``GET /metrics`` -> Prometheus metrics

With dynamic batching on, concurrent requests whose ``data`` is a list of samples are queued
and coalesced (up to ``max_batch_size`` samples, waiting at most ``max_wait_ms`` after the
first one) into one ``model.inference`` call whose result is split back per request; the model
is therefore called with exactly the samples the requests sent, and each request gets the
same result it would have got alone (for a model that predicts samples independently). If a
merged call fails, each request is tried alone, so one bad request fails only itself.

Errors: a body larger than ``max_buffer_size`` (Sedna's 100 MiB) is a 413 before it is read;
an input the model cannot take (it raises ``ValueError``/``TypeError``/``IndexError``/
``KeyError``) is a 422 and any other model failure a 500, both naming only the exception's
type: its text, which may show the model's internals, goes to the service log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from sedna.service._log import LOGGER
from sedna.service.server.base import BaseServer
from sedna.service.wire import PredictRequest

__all__ = ["InferenceServer", "DynamicBatcher", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """numpy values to plain JSON types."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def _callback(req: PredictRequest) -> str | None:
    """Sedna's optional ``callback``: a registered CALLBACK name applied to the model's output."""
    value = (req.model_extra or {}).get("callback")
    return value if isinstance(value, str) and value else None


def _is_sample_list(data: Any) -> bool:
    """A non-empty list of samples (not one flat feature vector, which cannot be merged)."""
    return isinstance(data, list) and bool(data) and not isinstance(data[0], int | float | bool)


class DynamicBatcher:
    """Coalesces concurrent list inputs into one call of ``fn(list_of_samples)``."""

    def __init__(self, fn: Callable[[list[Any]], Any], max_batch_size: int = 32, max_wait_ms: float = 5.0):
        self.fn = fn
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self._queue: asyncio.Queue[tuple[list[Any], asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.batch_sizes: list[int] = []

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def submit(self, samples: list[Any]) -> Any:
        assert self._queue is not None, "batcher not started"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((samples, fut))
        return await fut

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            items = [first]
            count = len(first[0])
            deadline = loop.time() + self.max_wait
            while count < self.max_batch_size:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
                items.append(nxt)
                count += len(nxt[0])
            await self._execute(loop, items)

    async def _execute(self, loop: asyncio.AbstractEventLoop, items: list[tuple[list[Any], asyncio.Future[Any]]]) -> None:
        merged: list[Any] = []
        for samples, _ in items:
            merged.extend(samples)
        self.batches += 1
        self.batch_sizes.append(len(merged))
        try:
            result = await loop.run_in_executor(None, self.fn, merged)
        except Exception as err:
            if len(items) == 1:
                _settle(items[0][1], error=err)
                return
            # one bad request must not fail the others it was batched with: each alone
            await self._one_by_one(loop, items)
            return
        if len(items) > 1 and (not hasattr(result, "__len__") or len(result) != len(merged)):
            # the model does not return one result per sample: fall back to one call each
            await self._one_by_one(loop, items)
            return
        start = 0
        for samples, fut in items:
            _settle(fut, result=result[start : start + len(samples)] if len(items) > 1 else result)
            start += len(samples)

    async def _one_by_one(self, loop: asyncio.AbstractEventLoop, items: list[tuple[list[Any], asyncio.Future[Any]]]) -> None:
        for samples, fut in items:
            try:
                _settle(fut, result=await loop.run_in_executor(None, self.fn, samples))
            except Exception as err:
                _settle(fut, error=err)


def _settle(fut: asyncio.Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


#: Sedna's default request limit (100 MiB)
DEFAULT_MAX_BUFFER_SIZE = 104857600


#: glibc's M_MMAP_THRESHOLD (mallopt's parameter number)
_M_MMAP_THRESHOLD = -3


def _keep_big_buffers_out_of_the_heap() -> None:
    """Fix glibc's mmap threshold at its default (128 KiB), for this process.

    A big body arrives in ~1 MiB pieces. glibc raises its mmap threshold each time it frees an
    mmapped block, so later pieces come from the heap, and freed heap pages stay with the
    process: six refused 101 MiB bodies left the service ~500 MB larger although nothing
    referenced them (``tests/adversarial/test_bounded_memory.py``). With the threshold fixed,
    every piece is its own mapping, returned when freed, so ``max_buffer_size`` bounds the
    process and not only each request. (The same as ``MALLOC_MMAP_THRESHOLD_=131072`` in the
    environment; a no-op where the C library is not glibc.)"""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass


class _BodyTooLarge(Exception):
    """Raised from inside ``receive`` once a body has outgrown the limit."""


class _BodyLimit:
    """Refuse a body over ``limit`` bytes with 413: before reading it when ``Content-Length``
    declares it, and as soon as the bytes read pass the limit when it does not (a chunked body,
    or a length that lies), so no request buffers more than ``limit`` bytes."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit
        _keep_big_buffers_out_of_the_heap()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, f"request body of {int(declared)} bytes")
            return
        seen = 0
        over = started = False

        async def counting_receive() -> Any:
            nonlocal seen, over
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body") or b"")
                if seen > self.limit:
                    over = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to the aborted read (FastAPI makes it a 400) is replaced
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            pass
        if over and not started:
            await self._refuse(scope, receive, send, f"request body of more than {self.limit} bytes")

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any, what: str) -> None:
        response = JSONResponse({"detail": f"{what} exceeds max_buffer_size ({self.limit})"}, status_code=413)
        await response(scope, receive, send)


class InferenceServer(BaseServer):
    """Sedna's ``InferenceServer(model, servername, host, http_port)``; ``model.inference(data)``
    computes a result.

    :param batching: coalesce concurrent requests (see module doc); off by default.
    """

    def __init__(
        self,
        model: Any,
        servername: str,
        host: str = "127.0.0.1",
        http_port: int = 8080,
        max_buffer_size: int = DEFAULT_MAX_BUFFER_SIZE,
        workers: int = 1,
        batching: bool = False,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
    ) -> None:
        super().__init__(servername=servername, host=host, http_port=http_port)
        self.model = model
        self.max_buffer_size = max_buffer_size
        self.registry = CollectorRegistry()
        self.m_requests = Counter(
            "sedna_inference_requests", "Predict requests", ["status"], registry=self.registry
        )
        self.m_latency = Histogram("sedna_inference_latency_seconds", "Predict latency", registry=self.registry)
        self.m_batch = Histogram(
            "sedna_inference_batch_samples",
            "Samples per model call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.batcher = DynamicBatcher(self._call_model, max_batch_size, max_wait_ms) if batching else None
        self.app = self._build_app()

    def _call_model(self, data: Any, callback: str | None = None) -> Any:
        if isinstance(data, list):
            self.m_batch.observe(len(data))
        if callback:
            # Sedna's body field: the name of a CALLBACK registered in this (the cloud) process
            return self.model.inference(data, post_process=callback)
        return self.model.inference(data)

    def _build_app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            # the batcher's queue must live on the server's own event loop
            if self.batcher is not None:
                self.batcher.start()
            yield
            if self.batcher is not None:
                await self.batcher.stop()

        app = FastAPI(title=f"sedna inference {self.server_name}", lifespan=lifespan)
        app.add_middleware(_BodyLimit, limit=self.max_buffer_size)
        name = self.server_name

        @app.get(f"/{name}")
        async def routes() -> list[dict[str, Any]]:
            return [
                {"path": r.path, "name": r.name, "methods": sorted(getattr(r, "methods", None) or [])}
                for r in app.routes
            ]

        @app.post(f"/{name}/predict")
        async def predict(req: PredictRequest) -> JSONResponse:
            started = time.perf_counter()
            data = req.data
            callback = _callback(req)
            try:
                if self.batcher is not None and not callback and _is_sample_list(data):
                    result = await self.batcher.submit(data)
                else:
                    result = await asyncio.get_running_loop().run_in_executor(None, self._call_model, data, callback)
            except (ValueError, TypeError, IndexError, KeyError) as err:
                # the model could not take this input (wrong shape, wrong type): the caller's
                # error; the details (which may show the model's internals) stay in the log
                self.m_requests.labels("rejected").inc()
                LOGGER.warning("input refused by the model: %s: %s", type(err).__name__, err)
                raise HTTPException(
                    status_code=422, detail=f"the model could not infer this input ({type(err).__name__}); see the service log"
                ) from None
            except Exception as err:
                self.m_requests.labels("error").inc()
                LOGGER.error("inference failed: %s: %s", type(err).__name__, err)
                raise HTTPException(
                    status_code=500, detail=f"inference failed ({type(err).__name__}); see the service log"
                ) from None
            self.m_requests.labels("ok").inc()
            self.m_latency.observe(time.perf_counter() - started)
            return JSONResponse({"result": to_jsonable(result)})

        @app.get("/metrics")
        async def metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return app
