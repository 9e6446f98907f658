"""REST service: typed market API under ``/api/v1``, Sedna's ``/knowledgebase`` endpoints,
``/healthz`` and Prometheus ``/metrics``.  Create with :func:`create_app`.

No ``from __future__ import annotations`` here: FastAPI must resolve the annotations of the
closures (which refer to local dependencies) at runtime.
"""


import hmac
import json
import re
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel
from sqlalchemy.orm import Session

from .checkers.sandbox import SandboxLimits
from .db import KBTaskRow
from .market import Market, SubmissionError
from .organizer import Organizer
from .schemas import LearnwareInfo, SearchQuery, SearchResponse, SubmitResponse
from .settings import MarketSettings

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


class Metrics:
    """Per-app registry, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("market_http_requests_total", "HTTP requests", ["method", "route", "code"], registry=self.registry)
        self.latency = Histogram("market_http_request_seconds", "HTTP latency", ["route"], registry=self.registry)
        self.search_latency = Histogram("market_search_seconds", "search latency", registry=self.registry)
        self.models = Gauge("market_models", "stored models", registry=self.registry)
        self.submissions = Counter("market_submissions_total", "submissions", ["outcome"], registry=self.registry)


class StatusUpdate(BaseModel):
    """Body of Sedna's ``POST /knowledgebase/update/status``."""

    tasks: str
    status: int


class DeleteResponse(BaseModel):
    id: str
    deleted: bool


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"upload larger than the limit of {limit} bytes")
    return data


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: POST routes anyone may call: they read, they do not write
_PUBLIC_POSTS = frozenset({"/api/v1/search", "/knowledgebase/query"})


def create_app(settings: MarketSettings | None = None) -> FastAPI:
    """Build the FastAPI app over a fresh :class:`Market` described by ``settings``."""
    settings = settings or MarketSettings()
    settings.storage_dir.mkdir(parents=True, exist_ok=True)
    kb_dir = settings.storage_dir / "kb_files"
    kb_dir.mkdir(parents=True, exist_ok=True)
    limits = SandboxLimits(timeout_s=settings.check_timeout_s, memory_mb=settings.check_memory_mb)
    market = Market(
        Organizer(settings.db_url, settings.storage_dir),
        limits=limits,
        check_workers=settings.check_workers,
        run_stat_check=settings.run_stat_check,
    )
    metrics = Metrics()
    bearer = HTTPBearer(auto_error=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        market.close()

    app = FastAPI(title="Sedna model market", version="0.1.0", lifespan=lifespan)
    app.state.market = market
    app.state.settings = settings

    def require_token(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if settings.api_token is None:
            return
        if cred is None or not hmac.compare_digest(cred.credentials.encode(), settings.api_token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def _token_ok(header: str | None) -> bool:
        if settings.api_token is None:
            return True
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.api_token.encode())

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Any]) -> Response:
        # reject oversized bodies before they are parsed, when the client declares the length
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_upload_bytes + 64 * 1024:
            return JSONResponse({"detail": f"upload larger than the limit of {settings.max_upload_bytes} bytes"}, 413)
        # FastAPI reads (and spools) a multipart upload before it runs the route's token
        # dependency: writes are authenticated here, before a byte of the body is read
        if (
            request.method in _WRITE_METHODS
            and request.url.path not in _PUBLIC_POSTS
            and not _token_ok(request.headers.get("authorization"))
        ):
            return JSONResponse(
                {"detail": "missing or wrong bearer token"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        start = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - start)
        return response

    # -- health and metrics -------------------------------------------------------------------
    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": len(market.organizer)}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def prometheus() -> Response:
        metrics.models.set(len(market.organizer))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- market API ---------------------------------------------------------------------------
    @app.post("/api/v1/learnwares", status_code=202, response_model=SubmitResponse, tags=["market"],
              dependencies=[Depends(require_token)])
    async def submit(
        file: Annotated[UploadFile, File(description="learnware zip")],
        semantic_spec: Annotated[str | None, Form(description="semantic spec JSON (else read from the zip)")] = None,
        wait: Annotated[bool, Query(description="run the statistical check before answering")] = False,
    ) -> SubmitResponse:
        data = await _read_limited(file, settings.max_upload_bytes)
        import anyio.to_thread

        try:
            rec = await anyio.to_thread.run_sync(lambda: market.submit(data, semantic_spec, wait=wait))
        except SubmissionError as exc:
            metrics.submissions.labels("rejected").inc()
            raise HTTPException(422, str(exc)) from exc
        metrics.submissions.labels("accepted").inc()
        return SubmitResponse(id=rec.id, status=rec.status, status_name=rec.status.name,
                              check_state=rec.check_state, reason=rec.reason)

    @app.get("/api/v1/learnwares", response_model=list[LearnwareInfo], tags=["market"])
    def list_learnwares() -> list[LearnwareInfo]:
        return [market.info(r) for r in market.organizer.list()]

    @app.get("/api/v1/learnwares/{mid}", response_model=LearnwareInfo, tags=["market"])
    def get_learnware(mid: str) -> LearnwareInfo:
        rec = market.organizer.get(mid)
        if rec is None:
            raise HTTPException(404, f"no model {mid!r}")
        return market.info(rec)

    @app.get("/api/v1/learnwares/{mid}/download", tags=["market"])
    def download(mid: str) -> Response:
        data = market.organizer.package_bytes(mid)
        if data is None:
            raise HTTPException(404, f"no downloadable package for {mid!r}")
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{mid}.zip"'})

    @app.delete("/api/v1/learnwares/{mid}", response_model=DeleteResponse, tags=["market"],
                dependencies=[Depends(require_token)])
    def delete(mid: str) -> DeleteResponse:
        if not market.delete(mid):
            raise HTTPException(404, f"no model {mid!r}")
        return DeleteResponse(id=mid, deleted=True)

    @app.post("/api/v1/search", response_model=SearchResponse, tags=["market"])
    def search(query: SearchQuery) -> SearchResponse:
        start = time.perf_counter()
        try:
            res = market.search(query)
        except (ValueError, SubmissionError) as exc:
            raise HTTPException(422, str(exc)) from exc
        metrics.search_latency.observe(time.perf_counter() - start)
        return res

    # -- Sedna knowledge-base compatibility ---------------------------------------------------
    def _download_path(name: str) -> str:
        return f"/file/download?files={name}&name={name}"

    async def _save_kb_file(upload: UploadFile, name: str) -> str:
        if not _SAFE_NAME.match(name) or name in (".", ".."):
            raise HTTPException(422, f"unsafe file name {name!r}")
        data = await _read_limited(upload, settings.max_upload_bytes)
        tmp = kb_dir / f".{name}.part"
        tmp.write_bytes(data)
        tmp.replace(kb_dir / name)
        return _download_path(name)

    @app.post("/knowledgebase/update", tags=["sedna"], dependencies=[Depends(require_token)])
    async def kb_update(task: Annotated[UploadFile, File()]) -> str:
        # The index is stored as uploaded (never unpickled here: it is untrusted input) and
        # served back as index.pkl, which is what Sedna's workers download.
        return await _save_kb_file(task, "index.pkl")

    @app.post("/knowledgebase/update/status", tags=["sedna"], dependencies=[Depends(require_token)])
    def kb_update_status(body: StatusUpdate) -> str:
        names = [t.strip() for t in body.tasks.split(",") if t.strip()]
        with Session(market.organizer.engine) as session, session.begin():
            for name in names:
                row = session.get(KBTaskRow, name)
                if row is None:
                    session.add(KBTaskRow(name=name, deploy=bool(body.status)))
                else:
                    row.deploy = bool(body.status)
        (kb_dir / "task_status.json").write_text(json.dumps({n: bool(body.status) for n in names}))
        return _download_path("index.pkl")

    @app.post("/knowledgebase/query", tags=["sedna"])
    def kb_query() -> None:
        return None  # Sedna leaves it unimplemented; kept so clients get 200 as before

    @app.get("/knowledgebase/file/download", tags=["sedna"])
    def kb_download(files: str, name: str | None = None) -> FileResponse:
        if not _SAFE_NAME.match(files):
            raise HTTPException(422, f"unsafe file name {files!r}")
        path = Path(kb_dir) / files
        if not path.is_file():
            raise HTTPException(404, f"no file {files!r}")
        return FileResponse(path, filename=name or files)

    @app.post("/knowledgebase/file/upload", tags=["sedna"], dependencies=[Depends(require_token)])
    async def kb_upload(file: Annotated[UploadFile, File()]) -> str:
        return await _save_kb_file(file, Path(file.filename or "upload.bin").name)

    return app
