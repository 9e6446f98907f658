"""Pydantic models at the market's boundaries (Python API and REST API share them)."""

from __future__ import annotations

import math
import os
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from .status import CheckStatus

#: the most points a statistical spec may hold: search costs O(points^2) memory, and learnware's
#: reduced sets have 100 (env ``SEDNA_MARKET_MAX_SPEC_POINTS``)
MAX_SPEC_POINTS = int(os.environ.get("SEDNA_MARKET_MAX_SPEC_POINTS", "2000"))


class StatSpecModel(BaseModel):
    """RKME table spec in learnware's JSON form.

    Checked before any work is done: at most ``MAX_SPEC_POINTS`` points, one weight per point,
    finite weights, a positive ``gamma`` and a non-negative ``num_points``.
    """

    z: list[Any] = Field(max_length=MAX_SPEC_POINTS)
    beta: list[float] = Field(max_length=MAX_SPEC_POINTS)
    gamma: float = Field(0.1, gt=0)
    num_points: int = Field(0, ge=0)
    type: str = "RKMETableSpecification"

    @model_validator(mode="after")
    def _consistent(self) -> StatSpecModel:
        if len(self.z) != len(self.beta):
            raise ValueError(f"z has {len(self.z)} points but beta {len(self.beta)} weights")
        if not all(math.isfinite(b) for b in self.beta) or not math.isfinite(self.gamma):
            raise ValueError("beta and gamma must be finite numbers")
        return self


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
