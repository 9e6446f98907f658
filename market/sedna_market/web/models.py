"""Pydantic models of the web page's endpoints (the REST models live in ``schemas.py``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..schemas import SearchResponse


class StatSpecSummary(BaseModel):
    """What the page shows of a model's statistical specification (no reduced points)."""

    id: str
    type: str = Field(description="specification class, learnware's name (RKMETableSpecification)")
    feature_shape: list[int]
    dimension: int = Field(description="flattened feature dimension")
    reduced_points: int = Field(description="points of the reduced set (length of beta)")
    num_points: int = Field(description="samples the specification summarises")
    gamma: float
    weights: list[float] = Field(description="beta: the weight of each reduced point")


class VocabularyField(BaseModel):
    """One semantic field the page offers as a filter."""

    type: str = Field(description="Class (one value) or Tag (several)")
    values: list[str]


class CsvSearchResponse(SearchResponse):
    """A search by data: the ranking, and what was computed from the CSV."""

    rows: int = Field(description="data rows read from the CSV")
    dimension: int = Field(description="columns, the feature dimension searched")
    reduced_points: int = Field(description="points of the RKME computed from the rows")
    header: list[str] | None = Field(None, description="the CSV's header row, when it had one")
