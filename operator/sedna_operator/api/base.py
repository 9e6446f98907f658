"""Shared building blocks of the CRD models: wire conventions, metadata, conditions, pod templates.

Every model reads and writes camelCase on the wire (``trainProb``) and exposes Pythonic
names in code (``train_prob``). Specs forbid unknown fields so a typo is reported with its
path instead of being silently dropped (kubectl's strict field validation does the same on
a real API server); statuses ignore unknown fields so that newer writers never break older
readers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel


def shorten(value: Any, limit: int = 80, quote: bool = True) -> str:
    """``repr(value)`` (``str`` with ``quote=False``) cut to ``limit`` characters, saying how
    long it was: messages quote what the user wrote without printing (or making a terminal
    wrap) 100,000 characters."""
    text = repr(value) if quote else str(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[: limit - 1]}…{size}"

__all__ = [
    "RunPolicy",
    "DNS1123_SUBDOMAIN",
    "DNS1123_LABEL",
    "ResourceName",
    "SpecModel",
    "StatusModel",
    "ObjectMeta",
    "OwnerReference",
    "KeyValue",
    "ModelRef",
    "DatasetRef",
    "PodTemplateSpec",
    "PodSpec",
    "Container",
    "Condition",
]

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

ResourceName = Annotated[
    str,
    Field(
        pattern=DNS1123_SUBDOMAIN,
        max_length=253,
        description="Name of a resource in the same namespace (lower-case DNS-1123 subdomain).",
    ),
]


class SpecModel(BaseModel):
    """Base of every spec object: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=True
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as it is written to the API server (aliases, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class RunPolicy(SpecModel):
    """Run policies of the training jobs (FL, IL, LL): additive to Sedna's schema, with the
    meaning batch/v1 Job and Kubeflow's ``runPolicy`` give them."""

    active_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Extension: seconds the job may run, from its start or its last resume; then it fails "
        "(reason DeadlineExceeded) and its workers are deleted.",
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        description="Extension: delete the job, and with it its workers and Services, this many seconds "
        "after it finished (Succeeded, Failed or completed).",
    )
    suspend: bool | None = Field(
        default=None,
        description="Extension: true deletes the job's running workers and creates none until it is set "
        "back to false; the job then goes on where it was and its deadline counts from the resume.",
    )


class StatusModel(BaseModel):
    """Base of every status object: camelCase aliases, unknown fields kept out of the model."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class OwnerReference(StatusModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(BaseModel):
    """The part of Kubernetes ObjectMeta the control plane reads; everything else is kept as is."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not re.match(DNS1123_SUBDOMAIN, value)):
            raise ValueError(
                f"{shorten(value)} is not a valid resource name: use lower-case letters, digits, '-' and '.', "
                "starting and ending with a letter or digit, at most 253 characters"
            )
        return value


class KeyValue(SpecModel):
    """Sedna's ``{key, value}`` pair (ParaSpec / Metric); both are strings on the wire."""

    key: str = Field(min_length=1)
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        # Users write `value: 0.5` unquoted; Sedna's Go types are strings and the Go YAML
        # decoder stringifies scalars, so accept numbers and booleans and keep their text.
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value


class ModelRef(SpecModel):
    name: ResourceName = Field(description="Name of a Model resource in the job's namespace.")


class DatasetRef(SpecModel):
    name: ResourceName = Field(description="Name of a Dataset resource in the job's namespace.")


class Container(BaseModel):
    """A container of a pod template: name and image are checked, the rest is Kubernetes' own."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    name: str = Field(pattern=DNS1123_LABEL, max_length=63)
    image: str = Field(min_length=1)


class PodSpec(BaseModel):
    """PodSpec shell: at least one container; every other PodSpec field is kept untouched."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    containers: list[Container] = Field(min_length=1)
    node_name: str | None = None

    @field_validator("containers")
    @classmethod
    def _unique_names(cls, value: list[Container]) -> list[Container]:
        names = [c.name for c in value]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"container names must be unique, repeated: {', '.join(dup)}")
        return value


class PodTemplateMeta(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class PodTemplateSpec(BaseModel):
    """A Kubernetes PodTemplateSpec, kept as data and validated as such."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    # Marks the schema generator to emit a typed shell that preserves unknown fields.
    crd_preserve_unknown: ClassVar[bool] = True

    metadata: PodTemplateMeta | None = None
    spec: PodSpec

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Condition(StatusModel):
    """A status condition. ``stage`` and ``data`` are used by the IL/LL kinds only."""

    type: str
    status: str = "True"
    stage: str | None = None
    last_heartbeat_time: datetime | None = None
    last_transition_time: datetime | None = None
    last_probe_time: datetime | None = None
    reason: str | None = None
    message: str | None = None
    data: str | None = None
