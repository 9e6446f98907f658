"""The LC's HTTP API: ``POST /sedna/workers/{name}/info``, ``/healthz``, ``/metrics``.

Every refused report gets ``{"Status": <code>, "Message": "<why>"}`` (Sedna's response
shape) and changes nothing: the sink is only called once every check has passed.

Checks, in order: body size (before reading it all: Content-Length, then while streaming)
-> 413; JSON object (no NaN/Infinity, nested at most ``MAX_JSON_DEPTH`` deep) -> 400; fields (unknown field, ownerKind, kind, status, names) -> 422;
body ``name`` equal to the path -> 400; job token -> 401 (missing) / 403 (wrong, or the
token of another job); header and body sequence agree -> 400; sequence fresh -> 409; the
sink stores the report -> 200, or 503 if it could not (the worker retries).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ..controllers.plan import WorkerReport
from .auth import bearer_token, token_matches
from .metrics import LCMetrics
from .models import MAX_SEQUENCE, BodyKeyError, WorkerInfo, normalise_body_keys
from .replay import ReplayError, SequenceGuard
from .settings import LCSettings
from .sinks import ReportSink

__all__ = ["create_app", "SEQUENCE_HEADER", "REPORT_PATH"]

log = logging.getLogger("sedna.lc")

SEQUENCE_HEADER = "X-Sedna-Report-Seq"
REPORT_PATH = "/sedna/workers/{name}/info"


class Rejected(Exception):
    """A refused report: HTTP code, metric reason, message for the worker."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def _reply(code: int, message: str) -> JSONResponse:
    return JSONResponse({"Status": code, "Message": message}, status_code=code)


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise Rejected(400, "malformed", "invalid Content-Length header") from None
        if declared > limit:
            raise Rejected(
                413, "too_large", f"report body of {declared} bytes exceeds the limit of {limit} bytes"
            )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "too_large", f"report body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


#: how deep a report may nest; Sedna's reports nest 4 levels (results -> metrics -> lists)
MAX_JSON_DEPTH = 32


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (send null or a string)")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, walked without recursion; stops past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _parse(raw: bytes) -> WorkerInfo:
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise Rejected(400, "malformed", f"body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise Rejected(400, "malformed", f"body is not valid JSON: {exc}") from None
    if _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise Rejected(400, "malformed", f"body nests deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(body, dict):
        raise Rejected(400, "malformed", f"body must be a JSON object, not {type(body).__name__}")
    try:
        return WorkerInfo.model_validate(normalise_body_keys(body))
    except BodyKeyError as exc:
        raise Rejected(422, "invalid", str(exc)) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
        )
        raise Rejected(422, "invalid", f"invalid report: {problems}") from None


def _sequence_header(request: Request) -> int | None:
    raw = request.headers.get(SEQUENCE_HEADER)
    if raw is None:
        return None
    text = raw.strip()
    # decimal digits only: Python's int() also takes "1_0", "+5" and non-ASCII digits, which the
    # Go LC (and any other reader of the header) would refuse
    if not (text.isascii() and text.isdigit()):
        raise Rejected(400, "malformed", f"{SEQUENCE_HEADER} must be an integer, got {raw[:40]!r}")
    value = int(text)
    if not 1 <= value <= MAX_SEQUENCE:
        raise Rejected(400, "malformed", f"{SEQUENCE_HEADER} must be between 1 and {MAX_SEQUENCE}, got {value}")
    return value


def create_app(settings: LCSettings, sink: ReportSink, *, metrics: LCMetrics | None = None) -> FastAPI:
    """The LC application. ``sink`` receives every accepted report; ``metrics`` is shared
    with a :class:`~sedna_operator.lc.datasets.DatasetMonitor` when one runs beside it."""
    app = FastAPI(title="sedna local controller", docs_url=None, redoc_url=None)
    lc_metrics = metrics if metrics is not None else LCMetrics()
    guard = SequenceGuard(sink)
    secret = settings.secret_bytes()
    app.state.settings = settings
    app.state.sink = sink
    app.state.metrics = lc_metrics

    def authorise(request: Request, info: WorkerInfo) -> None:
        if not settings.auth_required:
            return
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Rejected(
                401, "unauthorized", "missing report token (Authorization: Bearer <SEDNA_REPORT_TOKEN>)"
            )
        if not token_matches(secret, info.namespace, info.owner_kind, info.owner_name, token):
            raise Rejected(403, "forbidden", f"report token is not valid for job {info.owner}")

    async def handle(name: str, request: Request) -> WorkerInfo:
        raw = await _read_body(request, settings.max_body_bytes)
        info = _parse(raw)
        if info.name != name:
            raise Rejected(
                400, "name_mismatch", f"body name {info.name!r} differs from the path's worker {name!r}"
            )
        authorise(request, info)
        header_seq = _sequence_header(request)
        if header_seq is not None and info.sequence is not None and header_seq != info.sequence:
            raise Rejected(
                400, "malformed", f"{SEQUENCE_HEADER} {header_seq} differs from body sequence {info.sequence}"
            )
        sequence = header_seq if header_seq is not None else info.sequence
        received_at = datetime.now(UTC)

        async def write(stored: int) -> WorkerReport:
            report = info.to_report(received_at, stored)
            try:
                await sink.record(info.owner, report)
            except Exception as exc:  # the sink's failure is the worker's retry signal
                log.warning("report store failed owner=%s worker=%s error=%r", info.owner, name, exc)
                raise Rejected(503, "sink_error", f"report could not be stored: {exc}") from exc
            return report

        try:
            await guard.admit(info.owner, name, sequence, write)
        except ReplayError as exc:
            raise Rejected(409, "replayed", str(exc)) from None
        return info

    @app.post(
        REPORT_PATH,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": WorkerInfo.model_json_schema(by_alias=True)}},
            }
        },
    )
    async def worker_info(name: str, request: Request) -> JSONResponse:
        """Record a worker's report (Sedna's LC API)."""
        started = time.perf_counter()
        try:
            info = await handle(name, request)
        except Rejected as exc:
            lc_metrics.rejected.labels(reason=exc.reason).inc()
            log.info(
                "report rejected worker=%s code=%d reason=%s message=%s",
                name,
                exc.code,
                exc.reason,
                exc.message,
            )
            return _reply(exc.code, exc.message)
        finally:
            lc_metrics.latency.observe(time.perf_counter() - started)
        lc_metrics.accepted.labels(owner_kind=info.owner_kind).inc()
        log.debug(
            "report accepted owner=%s worker=%s kind=%s status=%s", info.owner, name, info.kind, info.status
        )
        return _reply(200, "OK")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the LC answers."""
        return {"status": "ok", "node": settings.node_name}

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        return Response(lc_metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
