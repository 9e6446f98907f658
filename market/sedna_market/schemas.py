"""Pydantic models at the market's boundaries (Python API and REST API share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .status import CheckStatus


class StatSpecModel(BaseModel):
    """RKME table spec in learnware's JSON form."""

    z: list[Any]
    beta: list[float]
    gamma: float = 0.1
    num_points: int = 0
    type: str = "RKMETableSpecification"


class SearchQuery(BaseModel):
    """A user's search: any of semantic spec (learnware dict form) and RKME spec."""

    semantic_spec: dict[str, Any] | None = None
    stat_spec: StatSpecModel | None = None
    max_search_num: int = Field(5, ge=1, le=100)
    search_method: Literal["greedy", "auto"] = "greedy"
    semantic_mode: Literal["fuzzy", "exact"] = "fuzzy"
    usable_only: bool = False


class SingleResult(BaseModel):
    id: str
    name: str
    score: float
    distance: float | None = None


class MixtureResult(BaseModel):
    ids: list[str]
    weights: list[float]
    score: float
    distance: float


class SearchResponse(BaseModel):
    """Single models best first, and at most one mixture."""

    single: list[SingleResult]
    mixture: MixtureResult | None = None


class LearnwareInfo(BaseModel):
    """A stored model's public description."""

    id: str
    name: str
    status: CheckStatus
    status_name: str
    check_state: str
    reason: str
    semantic_spec: dict[str, Any]
    feature_shape: list[int]
    created_at: datetime
    downloadable: bool


class SubmitResponse(BaseModel):
    id: str
    status: CheckStatus
    status_name: str
    check_state: str
    reason: str
