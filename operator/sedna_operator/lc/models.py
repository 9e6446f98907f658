"""The worker report body (Sedna's wire format), owner identities, and the stored report shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..controllers.plan import WorkerReport

# the report wire codec is the core's (one for the LC and both runtimes); re-exported here
from ..core.reports import report_from_wire, report_to_wire

__all__ = [
    "OWNER_KINDS",
    "WORKER_KINDS",
    "WORKER_STATUSES",
    "OwnerKey",
    "WorkerInfo",
    "BodyKeyError",
    "canonical_owner_kind",
    "normalise_body_keys",
    "report_to_wire",
    "report_from_wire",
]

# Sedna's lowercase owner kinds (what the SDK sends as ``ownerKind``) -> CamelCase Kind.
OWNER_KINDS: dict[str, str] = {
    "jointinferenceservice": "JointInferenceService",
    "federatedlearningjob": "FederatedLearningJob",
    "incrementallearningjob": "IncrementalLearningJob",
    "lifelonglearningjob": "LifelongLearningJob",
}
WORKER_KINDS = ("train", "eval", "deploy", "inference")
WORKER_STATUSES = ("ready", "completed", "failed", "running", "waiting")

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def canonical_owner_kind(kind: str) -> str:
    """``incrementallearningjob`` or ``IncrementalLearningJob`` -> ``IncrementalLearningJob``.

    Raises ``ValueError`` for anything else (Sedna silently drops such reports; we say so).
    """
    found = OWNER_KINDS.get(kind.lower()) if isinstance(kind, str) else None
    if found is None:
        known = ", ".join(sorted(OWNER_KINDS))
        raise ValueError(f"unknown ownerKind {kind!r}; expected one of {known} (or their CamelCase Kind)")
    return found


class OwnerKey(BaseModel):
    """The job a report is about: namespace, CamelCase Kind, name. Hashable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


# Field names of the body, by their lowercase spelling: Go's encoding/json matches keys
# case-insensitively, and Sedna's struct has no json tags, so ``Name``, ``OwnerKind`` and
# ``ownerKind`` are all the same field there. We accept the same spellings.
_BODY_FIELDS = {
    "name": "name",
    "namespace": "namespace",
    "ownername": "ownerName",
    "ownerkind": "ownerKind",
    "ownerinfo": "ownerInfo",
    "kind": "kind",
    "status": "status",
    "results": "results",
    "sequence": "sequence",
}


class BodyKeyError(ValueError):
    """A body key that is unknown or given twice under different spellings."""


def normalise_body_keys(body: dict[str, Any]) -> dict[str, Any]:
    """Map ``Name``/``OwnerKind``/``ownerkind``... to the canonical camelCase keys."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        canonical = _BODY_FIELDS.get(key.lower())
        if canonical is None:
            known = ", ".join(_BODY_FIELDS.values())
            raise BodyKeyError(f"unknown field {key!r} (fields are {known})")
        if canonical in out:
            raise BodyKeyError(f"field {canonical!r} is given twice (as {key!r} and another spelling)")
        out[canonical] = value
    return out


#: the largest sequence number: stores keep it as a signed 64-bit integer
MAX_SEQUENCE = 2**63 - 1


class WorkerInfo(BaseModel):
    """``POST /sedna/workers/{name}/info`` body, as Sedna's SDK (``report_task_info``) sends it.

    Strict: unknown fields, unknown owner kinds, worker kinds and statuses are errors.
    Kinds and statuses are compared case-insensitively and stored lowercase.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=253, pattern=_DNS_SUBDOMAIN, description="Worker name.")
    namespace: str = Field(min_length=1, max_length=63, pattern=_DNS_LABEL)
    owner_name: str = Field(alias="ownerName", min_length=1, max_length=253, pattern=_DNS_SUBDOMAIN)
    owner_kind: str = Field(alias="ownerKind", description="Lowercase owner kind or CamelCase Kind.")
    owner_info: dict[str, Any] = Field(default_factory=dict, alias="ownerInfo")
    kind: Literal["train", "eval", "deploy", "inference"]
    status: Literal["ready", "completed", "failed", "running", "waiting"]
    results: list[dict[str, Any]] = Field(default_factory=list)
    sequence: int | None = Field(
        default=None, ge=1, le=MAX_SEQUENCE, description="Extension: per-worker increasing number (a signed 64-bit integer)."
    )

    @field_validator("owner_kind")
    @classmethod
    def _owner_kind(cls, value: str) -> str:
        return canonical_owner_kind(value)

    @field_validator("kind", "status", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("owner_info", "results", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: Any) -> Any:
        if value is None:
            return {} if info.field_name == "owner_info" else []
        return value

    @property
    def owner(self) -> OwnerKey:
        return OwnerKey(namespace=self.namespace, kind=self.owner_kind, name=self.owner_name)

    def to_report(self, received_at: datetime, sequence: int) -> WorkerReport:
        """The reconcilers' view of this report."""
        return WorkerReport(
            worker=self.name,
            kind=self.kind,
            status=self.status,
            owner_info=self.owner_info,
            results=self.results,
            received_at=received_at,
            sequence=sequence,
        )
