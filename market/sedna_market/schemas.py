"""Pydantic models at the market's boundaries (Python API and REST API share them)."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from .spec.parsing import MAX_COUNT, finite_array
from .status import CheckStatus

#: the most points a statistical spec may hold: search costs O(points^2) memory, and learnware's
#: reduced sets have 100 (env ``SEDNA_MARKET_MAX_SPEC_POINTS``)
MAX_SPEC_POINTS = int(os.environ.get("SEDNA_MARKET_MAX_SPEC_POINTS", "2000"))



def _as_utc(value: datetime) -> datetime:
    """The database stores naive UTC: attach UTC, so the wire form is an RFC 3339 date-time
    with an offset (``...Z``), as the OpenAPI's ``format: date-time`` promises."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: a timestamp as the API sends it: timezone-aware UTC (naive values are taken as UTC)
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class ErrorResponse(BaseModel):
    """The market's own error answers (401, 403, 404, 409, 413, 422, 507): ``detail`` says what
    was wrong and where."""

    detail: str = Field(description="what was wrong, and what to change")


class ValidationIssue(BaseModel):
    """One request-validation problem (FastAPI's form)."""

    loc: list[str | int]
    msg: str
    type: str


class UnprocessableResponse(BaseModel):
    """A 422: either the market's own reason (text: a bad package, spec or file name) or FastAPI's
    request-validation errors (a list, one per wrong field)."""

    detail: str | list[ValidationIssue]


class StatSpecModel(BaseModel):
    """RKME spec in learnware's JSON form: ``type`` is ``RKMETableSpecification`` (default),
    ``RKMETextSpecification`` or ``RKMEImageSpecification``; text and image specs carry the
    ``encoder`` of their space, and only models of the same type and encoder are searched.

    Checked before any work is done: at most ``MAX_SPEC_POINTS`` points, one weight per point,
    finite weights, a positive ``gamma`` and a non-negative ``num_points``.
    """

    z: list[Any] = Field(max_length=MAX_SPEC_POINTS, description="reduced set: one (nested) list of finite numbers per point")
    beta: list[float] = Field(max_length=MAX_SPEC_POINTS)
    gamma: float = Field(0.1, gt=0)
    num_points: int = Field(0, ge=0, le=MAX_COUNT)
    type: str = "RKMETableSpecification"
    encoder: str | None = Field(None, max_length=200, description="encoder of a text or image spec's space")

    @field_validator("z")
    @classmethod
    def _finite_points(cls, z: list[Any]) -> list[Any]:
        # the numbers go to float64 arrays: one too large for a float (10**400) or not finite is
        # refused here, naming the field, before any search work
        finite_array(z, "z")
        return z

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
    #: hetero search (a market started with hetero on): None = when the semantic spec's Input
    #: describes the user's features; False = never
    hetero: bool | None = None


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
    #: True when the ranking ran in the hetero engine's unified space (distances are MMDs there)
    hetero: bool = False


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
    created_at: UtcDatetime
    downloadable: bool
    #: user whose token uploaded it ("anonymous" on an insecure market, "" when stored before
    #: owners were recorded); only that user or an admin may delete it
    uploader: str = ""


class SubmitResponse(BaseModel):
    id: str
    status: CheckStatus
    status_name: str
    check_state: str
    reason: str
    uploader: str = ""
