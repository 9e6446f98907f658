"""REST routes of the hetero market: ``GET /api/v1/hetero`` (what it holds) and
``POST /api/v1/hetero/train`` (retrain the engine now; admins only)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request

router = APIRouter(prefix="/api/v1/hetero", tags=["hetero"])


def _hetero(request: Request) -> Any:
    hetero = request.app.state.market.organizer.hetero
    if hetero is None:
        raise HTTPException(404, "the hetero market is off: start the market with --hetero (SEDNA_MARKET_HETERO=1)")
    return hetero


@router.get("")
def hetero_status(request: Request) -> dict[str, Any]:
    """Engine stamp, how many models it was trained on, hetero specs held, models until the
    next automatic retraining."""
    return _hetero(request).status()


@router.post("/train")
async def hetero_train(request: Request) -> dict[str, Any]:
    """Retrain the engine on every eligible model and remake every hetero spec (admins only)."""
    user = request.app.state.auth.user(request.headers.get("authorization"))
    if user is None or not user.admin:
        raise HTTPException(403, "only an admin may retrain the hetero engine")
    hetero = _hetero(request)
    try:
        await anyio.to_thread.run_sync(hetero.train)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    return hetero.status()
