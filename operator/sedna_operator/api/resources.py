"""Typed resources (apiVersion/kind/metadata/spec/status) and the registry of kinds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .base import ObjectMeta, shorten
from .dataset import DatasetSpec, DatasetStatus, ModelSpec, ModelStatus
from .federated_learning import FederatedLearningJobSpec, FederatedLearningJobStatus
from .joint_inference import JointInferenceServiceSpec, JointInferenceServiceStatus
from .learning import (
    IncrementalLearningJobSpec,
    IncrementalLearningJobStatus,
    LifelongLearningJobSpec,
    LifelongLearningJobStatus,
)

__all__ = [
    "GROUP",
    "VERSION",
    "API_VERSION",
    "CATEGORY",
    "Resource",
    "Dataset",
    "Model",
    "JointInferenceService",
    "FederatedLearningJob",
    "IncrementalLearningJob",
    "LifelongLearningJob",
    "KindInfo",
    "PrinterColumn",
    "KINDS",
    "kind_info",
    "parse_resource",
    "ResourceValidationError",
    "FieldError",
]

GROUP = "sedna.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "sedna"

SpecT = TypeVar("SpecT", bound=BaseModel)
StatusT = TypeVar("StatusT", bound=BaseModel)


class Resource(BaseModel, Generic[SpecT, StatusT]):
    """A ``sedna.io/v1alpha1`` object. ``status`` is always present in code (empty when unset)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    api_version: Literal["sedna.io/v1alpha1"] = Field(default="sedna.io/v1alpha1", alias="apiVersion")
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SpecT
    status: StatusT

    def to_wire(self, *, with_status: bool = True) -> dict[str, Any]:
        data = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        if not with_status:
            data.pop("status", None)
        return data

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"


class Dataset(Resource[DatasetSpec, DatasetStatus]):
    """A dataset index file on a node, whose samples the local controller counts."""

    kind: Literal["Dataset"] = "Dataset"
    status: DatasetStatus = Field(default_factory=DatasetStatus)


class Model(Resource[ModelSpec, ModelStatus]):
    """A model artefact (host path, s3 or http URL) that workers mount."""

    kind: Literal["Model"] = "Model"
    status: ModelStatus = Field(default_factory=ModelStatus)


class JointInferenceService(Resource[JointInferenceServiceSpec, JointInferenceServiceStatus]):
    """Edge-cloud joint inference: an edge worker with hard example mining and a cloud worker."""

    kind: Literal["JointInferenceService"] = "JointInferenceService"
    status: JointInferenceServiceStatus = Field(default_factory=JointInferenceServiceStatus)


class FederatedLearningJob(Resource[FederatedLearningJobSpec, FederatedLearningJobStatus]):
    """Federated learning: training workers on the edge and an aggregation worker."""

    kind: Literal["FederatedLearningJob"] = "FederatedLearningJob"
    status: FederatedLearningJobStatus = Field(default_factory=FederatedLearningJobStatus)


class IncrementalLearningJob(Resource[IncrementalLearningJobSpec, IncrementalLearningJobStatus]):
    """Incremental learning: a Train, Eval, Deploy cycle triggered by new samples."""

    kind: Literal["IncrementalLearningJob"] = "IncrementalLearningJob"
    status: IncrementalLearningJobStatus = Field(default_factory=IncrementalLearningJobStatus)


class LifelongLearningJob(Resource[LifelongLearningJobSpec, LifelongLearningJobStatus]):
    """Lifelong learning: multi-task training with a knowledge base and unseen-task detection."""

    kind: Literal["LifelongLearningJob"] = "LifelongLearningJob"
    status: LifelongLearningJobStatus = Field(default_factory=LifelongLearningJobStatus)


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    model: type[Resource[Any, Any]]
    columns: tuple[PrinterColumn, ...] = field(default_factory=tuple)
    # Sedna's CRDs require metadata at the root of these kinds only.
    metadata_required: bool = True


_STAGE = PrinterColumn("Stage", "string", ".status.conditions[-1:].stage", "Stage of the latest condition")
_STATE = PrinterColumn("State", "string", ".status.conditions[-1:].type", "Type of the latest condition")
_READY = PrinterColumn(
    "Ready", "string", '.status.conditions[?(@.type=="Ready")].status', "Whether the service answers (its Ready condition)"
)
_ROUND = PrinterColumn("Round", "integer", ".status.round", "Current training round")
_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")

KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(
            "Dataset", "datasets", "dataset", (), Dataset,
            (
                PrinterColumn("Samples", "integer", ".status.numberOfSamples", "Number of samples counted"),
                PrinterColumn("Format", "string", ".spec.format"),
                PrinterColumn("Node", "string", ".spec.nodeName", "Node whose LC watches the dataset"),
                PrinterColumn("Updated", "date", ".status.updateTime"),
                _AGE,
            ),
            metadata_required=False,
        ),
        KindInfo(
            "Model", "models", "model", (), Model,
            (
                PrinterColumn("URL", "string", ".spec.url"),
                PrinterColumn("Format", "string", ".spec.format"),
                PrinterColumn("Updated", "date", ".status.updateTime"),
                _AGE,
            ),
            metadata_required=False,
        ),
        KindInfo(
            "JointInferenceService", "jointinferenceservices", "jointinferenceservice", ("ji",), JointInferenceService,
            (
                _STATE,
                _READY,
                PrinterColumn("Active", "integer", ".status.active"),
                PrinterColumn("Failed", "integer", ".status.failed"),
                PrinterColumn(
                    "Edge-Inferences", "string", '.status.metrics[?(@.key=="inferenceNumber")].value',
                    "Inferences made by the edge worker",
                ),
                PrinterColumn(
                    "Cloud-Ratio", "string", '.status.metrics[?(@.key=="uploadCloudRatio")].value',
                    "Share of samples sent to the cloud worker",
                ),
                _AGE,
            ),
        ),
        KindInfo(
            "FederatedLearningJob", "federatedlearningjobs", "federatedlearningjob", ("fl",), FederatedLearningJob,
            (
                PrinterColumn("Phase", "string", ".status.phase"),
                _READY,
                PrinterColumn("Active", "integer", ".status.active"),
                PrinterColumn("Succeeded", "integer", ".status.succeeded"),
                PrinterColumn("Failed", "integer", ".status.failed"),
                PrinterColumn("Round", "integer", ".status.currentRound", "Last aggregated round"),
                _AGE,
            ),
            metadata_required=False,
        ),
        KindInfo(
            "IncrementalLearningJob", "incrementallearningjobs", "incrementallearningjob", ("il",),
            IncrementalLearningJob, (_STAGE, _STATE, _ROUND, _AGE),
        ),
        KindInfo(
            "LifelongLearningJob", "lifelonglearningjobs", "lifelonglearningjob", ("ll",), LifelongLearningJob,
            (
                _STAGE, _STATE, _ROUND,
                PrinterColumn("Models", "integer", ".status.knowledgeBase.AIModels.numberOfAIModels", "Task models in the knowledge base"),
                _AGE,
            ),
        ),
    )
}  # fmt: skip

_ALIASES = {
    alias: info.kind
    for info in KINDS.values()
    for alias in (info.kind.lower(), info.plural, info.singular, *info.short_names)
}


def kind_info(name: str) -> KindInfo:
    """Look a kind up by Kind, plural, singular or short name (case-insensitive)."""
    kind = _ALIASES.get(name.lower())
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise KeyError(f"unknown kind {name!r}; sedna.io kinds are {known}")
    return KINDS[kind]


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        message = self.message if len(self.message) <= 500 else f"{self.message[:499]}…"
        return f"{self.path}: {message}" if self.path else message


class ResourceValidationError(ValueError):
    """A manifest that does not fit its kind; ``errors`` carry the field path of each problem."""

    def __init__(self, what: str, errors: list[FieldError]):
        self.what = what
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{what} is invalid:\n{lines}")


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        # Drop pydantic's internal tags such as function-after[...] from the location.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p and "]" in p)))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling and indentation)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        errors.append(FieldError(_path(loc), msg))
    return errors


def parse_resource(obj: dict[str, Any], *, source: str = "") -> Resource[Any, Any]:
    """Validate a manifest dict into its typed resource, or raise :class:`ResourceValidationError`.

    The error names the object (``kind/name`` and ``source``) and the path of every bad field.
    """
    if not isinstance(obj, dict):
        raise ResourceValidationError(source or "document", [FieldError("", "a resource must be a mapping")])
    kind = obj.get("kind")
    name = (obj.get("metadata") or {}).get("name", "<unnamed>") if isinstance(obj.get("metadata"), dict) else "<unnamed>"
    what = f"{kind if isinstance(kind, str) and len(kind) <= 63 else shorten(kind, 40)}/" + (
        name if isinstance(name, str) and len(name) <= 253 else shorten(name)
    ) + (f" ({source})" if source else "")
    api_version = obj.get("apiVersion")
    if api_version != API_VERSION:
        raise ResourceValidationError(
            what, [FieldError("apiVersion", f"expected {API_VERSION!r}, got {shorten(api_version)}")]
        )
    if not isinstance(kind, str) or kind not in KINDS:
        raise ResourceValidationError(
            what, [FieldError("kind", f"unknown kind {shorten(kind)}; expected one of {', '.join(sorted(KINDS))}")]
        )
    data = dict(obj)
    if data.get("status") is None:
        data.pop("status", None)
    try:
        return KINDS[kind].model.model_validate(data)
    except ValidationError as exc:
        raise ResourceValidationError(what, _field_errors(exc)) from None
