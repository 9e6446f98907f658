"""The web page's routes: the page itself, its static files, and the three endpoints the REST
API lacked for it (a model's statistical-spec summary, the semantic vocabulary, search by CSV).

Routes read the market from ``request.app.state`` so one router serves any app
:func:`sedna_market.service.create_app` builds.  Writes (upload, delete) go through the REST API
with the token the user typed; nothing here writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import ValidationError

from ..market import Market, SubmissionError
from ..schemas import ErrorResponse, SearchQuery, StatSpecModel, UnprocessableResponse
from ..spec.parsing import SpecDataError, load_json_object
from ..spec.rkme import generate_rkme_table_spec
from ..spec.semantic import VOCABULARY
from .csv_data import CsvError, parse_csv
from .models import CsvSearchResponse, StatSpecSummary, VocabularyField

STATIC_DIR = Path(__file__).parent / "static"
#: the files the page is made of (served by name from this list only, never a client's path)
_STATIC_TYPES = {"app.js": "text/javascript", "app.css": "text/css"}
#: search by CSV: the most bytes, data rows and cells one upload may have (anyone may search,
#: and the RKME costs CPU in rows x reduced points), and RKME computations run at once
MAX_CSV_BYTES = int(os.environ.get("SEDNA_MARKET_MAX_CSV_BYTES", str(16 * 1024 * 1024)))
MAX_CSV_ROWS = int(os.environ.get("SEDNA_MARKET_MAX_CSV_ROWS", "20000"))
MAX_CSV_CELLS = int(os.environ.get("SEDNA_MARKET_MAX_CSV_CELLS", "2000000"))
CSV_WORKERS = 2
#: reduced-set size of the user's RKME, learnware's default
USER_REDUCED_SET_SIZE = 100

#: the page loads nothing from elsewhere and runs no inline script: a name that slipped through
#: escaping still could not run code
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_DETAIL = {"model": ErrorResponse}
router = APIRouter()


def _market(request: Request) -> Market:
    return request.app.state.market


def _limiter(request: Request) -> anyio.CapacityLimiter:
    # created on first use: a CapacityLimiter belongs to the running event loop
    state = request.app.state
    if getattr(state, "csv_limiter", None) is None:
        state.csv_limiter = anyio.CapacityLimiter(CSV_WORKERS)
    return state.csv_limiter


# -- the page ------------------------------------------------------------------------------------
@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """The market's address opens the page."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui", include_in_schema=False)
@router.get("/ui/", include_in_schema=False)
def page() -> FileResponse:
    """The single page (all behaviour is in ``app.js``, calling the REST API)."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_SECURITY_HEADERS)


@router.get("/ui/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    """One of the page's own files."""
    if name not in _STATIC_TYPES:
        raise HTTPException(404, f"no page file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=_STATIC_TYPES[name], headers=_SECURITY_HEADERS)


# -- API the page needs --------------------------------------------------------------------------
@router.get("/api/v1/semantic/vocabulary", response_model=dict[str, VocabularyField], tags=["market"])
def vocabulary() -> dict[str, VocabularyField]:
    """The semantic fields with fixed values (Data, Task, Library, Scenario, License): the page's
    filters offer exactly what the semantic checker accepts."""
    return {key: VocabularyField(type=ftype, values=list(values or ()))
            for key, (ftype, values) in VOCABULARY.items() if values is not None}


@router.get("/api/v1/learnwares/{mid}/stat_spec", response_model=StatSpecSummary, tags=["market"],
            responses={404: {**_DETAIL, "description": "no such model"}})
def stat_spec_summary(mid: str, request: Request) -> StatSpecSummary:
    """Summary of a model's statistical specification: type, shape, reduced points and weights."""
    rec = _market(request).organizer.get(mid)
    if rec is None:
        raise HTTPException(404, f"no model {mid!r}")
    spec = rec.stat_spec
    return StatSpecSummary(id=mid, type=spec.type, feature_shape=list(spec.feature_shape), dimension=spec.dim,
                           reduced_points=int(spec.beta.shape[0]), num_points=spec.num_points,
                           gamma=spec.gamma, weights=[float(b) for b in spec.beta])


def _csv_search(data: bytes, query: dict[str, Any], market: Market) -> CsvSearchResponse:
    """Parse, compute the RKME, search (blocking: runs in a worker thread)."""
    X, header = parse_csv(data, MAX_CSV_ROWS, MAX_CSV_CELLS)
    try:
        spec = generate_rkme_table_spec(X, reduced_set_size=USER_REDUCED_SET_SIZE)
    except ValueError as exc:  # a column with no number at all
        raise CsvError(f"no specification can be computed from the CSV: {exc}") from exc
    try:
        search = SearchQuery(stat_spec=StatSpecModel(**spec.to_dict()), **query)
    except ValidationError as exc:
        raise CsvError(f"the search options are invalid: {exc.errors(include_url=False)}") from exc
    res = market.search(search)
    return CsvSearchResponse(single=res.single, mixture=res.mixture, rows=int(X.shape[0]),
                             dimension=int(X.shape[1]), reduced_points=int(spec.beta.shape[0]), header=header)


@router.post("/api/v1/search/csv", response_model=CsvSearchResponse, tags=["market"],
             responses={413: {**_DETAIL, "description": "the CSV is over the size limit"},
                        422: {"model": UnprocessableResponse,
                              "description": "the CSV or an option is unusable: the reason as text"}})
async def search_csv(
    request: Request,
    file: Annotated[UploadFile, File(description="CSV: one row per sample, numbers only, optional header row")],
    semantic_spec: Annotated[str | None, Form(description="semantic filter, learnware's JSON form")] = None,
    max_search_num: Annotated[int, Form(ge=1, le=100)] = 5,
    usable_only: Annotated[bool, Form()] = False,
) -> CsvSearchResponse:
    """Search by data: the server computes the CSV's RKME (the market's own code, learnware's
    defaults) and ranks the models by it, after the optional semantic filter.  No token needed."""
    limit = min(MAX_CSV_BYTES, request.app.state.settings.max_upload_bytes)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the CSV is larger than the limit of {limit} bytes: send a sample of the rows")
    query: dict[str, Any] = {"max_search_num": max_search_num, "usable_only": usable_only}
    if semantic_spec:
        try:
            query["semantic_spec"] = load_json_object(semantic_spec, "semantic_spec")
        except SpecDataError as exc:
            raise HTTPException(422, str(exc)) from None
    market = _market(request)
    try:
        return await anyio.to_thread.run_sync(lambda: _csv_search(data, query, market), limiter=_limiter(request))
    except (CsvError, SubmissionError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None

