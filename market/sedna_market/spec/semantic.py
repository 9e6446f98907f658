"""Semantic specification: the learnware vocabulary as pydantic models.

The wire form is learnware's dict ``{key: {"Type": "Class"|"Tag"|"String", "Values": ...}}`` plus the
free ``Input``/``Output`` dicts, so specs written for learnware load unchanged.  Parsing is lenient
(unknown values are kept) because rejecting is the semantic checker's job, which gives a reason.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .parsing import as_object

DATA_TYPES = ("Table", "Image", "Text")
TASK_TYPES = (
    "Classification",
    "Regression",
    "Feature Extraction",
    "Segmentation",
    "Object Detection",
    "Others",
)
LIBRARIES = ("Scikit-learn", "PyTorch", "TensorFlow", "Others")
SCENARIOS = (
    "Business",
    "Financial",
    "Health",
    "Politics",
    "Computer",
    "Internet",
    "Traffic",
    "Nature",
    "Fashion",
    "Industry",
    "Agriculture",
    "Education",
    "Entertainment",
    "Architecture",
    "Others",
)
LICENSES = (
    "MIT",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "GPL-2.0",
    "GPL-3.0",
    "LGPL-2.1",
    "LGPL-3.0",
    "AGPL-3.0",
    "ECL-2.0",
    "AFL-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "Others",
)

FieldType = Literal["Class", "Tag", "String"]

#: key -> (type, allowed values or None for free strings)
VOCABULARY: dict[str, tuple[FieldType, tuple[str, ...] | None]] = {
    "Data": ("Class", DATA_TYPES),
    "Task": ("Class", TASK_TYPES),
    "Library": ("Class", LIBRARIES),
    "Scenario": ("Tag", SCENARIOS),
    "License": ("Class", LICENSES),
    "Name": ("String", None),
    "Description": ("String", None),
}


class TagField(BaseModel):
    """A Class or Tag field: a list of values from the vocabulary."""

    Type: str = "Class"
    Values: list[str] = Field(default_factory=list)


class StringField(BaseModel):
    """A free-text field (Name, Description)."""

    Type: str = "String"
    Values: str = ""


class IODescription(BaseModel):
    """Input or output description: dimension plus optional per-index descriptions."""

    Dimension: int
    Description: dict[str, str] = Field(default_factory=dict)


class SemanticSpec(BaseModel):
    """Semantic specification of a model (or of a user's query, where every field is optional)."""

    Data: TagField = Field(default_factory=lambda: TagField(Type="Class"))
    Task: TagField = Field(default_factory=lambda: TagField(Type="Class"))
    Library: TagField = Field(default_factory=lambda: TagField(Type="Class"))
    Scenario: TagField = Field(default_factory=lambda: TagField(Type="Tag"))
    License: TagField = Field(default_factory=lambda: TagField(Type="Class"))
    Name: StringField = Field(default_factory=StringField)
    Description: StringField = Field(default_factory=StringField)
    Input: IODescription | None = None
    Output: IODescription | None = None

    model_config = {"extra": "allow"}

    # -- conversions -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, where: str = "semantic spec") -> SemanticSpec:
        """Parse learnware's dict form; a scalar ``Values`` of a Class field becomes a list.
        Anything but an object is a ``ValueError`` naming ``where``."""
        fixed: dict[str, Any] = {}
        for key, value in as_object(data, where).items():
            if key in VOCABULARY and isinstance(value, dict):
                ftype = VOCABULARY[key][0]
                vals = value.get("Values", [] if ftype != "String" else "")
                if ftype != "String" and isinstance(vals, str):
                    vals = [vals] if vals else []
                if ftype == "String" and isinstance(vals, list):
                    vals = vals[0] if vals else ""
                fixed[key] = {"Type": value.get("Type", ftype), "Values": vals}
            else:
                fixed[key] = value
        return cls.model_validate(fixed)

    def to_dict(self) -> dict[str, Any]:
        """Learnware-compatible dict (``Input``/``Output`` left out when unset)."""
        return self.model_dump(exclude_none=True)

    def first(self, key: str) -> str | None:
        """The single value of a Class field, or None."""
        field = getattr(self, key)
        return field.Values[0] if field.Values else None


def generate_semantic_spec(
    name: str = "",
    description: str = "",
    data_type: str | None = None,
    task_type: str | None = None,
    library_type: str | None = None,
    scenarios: str | list[str] | None = None,
    license: str | None = "Apache-2.0",
    input_description: dict[str, Any] | None = None,
    output_description: dict[str, Any] | None = None,
) -> SemanticSpec:
    """Build a semantic spec the same way learnware's ``generate_semantic_spec`` does."""

    def one(v: str | None) -> list[str]:
        return [v] if v else []

    if isinstance(scenarios, str):
        scenarios = [scenarios]
    return SemanticSpec(
        Data=TagField(Type="Class", Values=one(data_type)),
        Task=TagField(Type="Class", Values=one(task_type)),
        Library=TagField(Type="Class", Values=one(library_type)),
        Scenario=TagField(Type="Tag", Values=list(scenarios or [])),
        License=TagField(Type="Class", Values=one(license)),
        Name=StringField(Values=name),
        Description=StringField(Values=description),
        Input=IODescription.model_validate(input_description) if input_description else None,
        Output=IODescription.model_validate(output_description) if output_description else None,
    )
