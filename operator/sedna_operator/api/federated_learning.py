"""FederatedLearningJob: one aggregation worker and a training worker per dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .base import (
    Condition,
    DatasetRef,
    KeyValue,
    ModelRef,
    PodTemplateSpec,
    ResourceName,
    RunPolicy,
    SpecModel,
    StatusModel,
)

__all__ = ["FederatedLearningJobSpec", "FederatedLearningJobStatus", "FL_CONDITION_TYPES", "FL_PHASES"]

FL_CONDITION_TYPES = ("Training", "Complete", "Failed")
FL_PHASES = ("Pending", "Running", "Succeeded", "Failed")


class AggregationWorker(SpecModel):
    model: ModelRef
    template: PodTemplateSpec


class TrainingWorker(SpecModel):
    dataset: DatasetRef
    template: PodTemplateSpec


class S3Transmitter(SpecModel):
    agg_data_path: str = Field(min_length=1, description="s3:// prefix where weights are exchanged.")
    credential_name: ResourceName | None = None


class WSTransmitter(SpecModel):
    """The websocket transmitter has no settings; its presence selects it (the default)."""


class Transmitter(SpecModel):
    ws: WSTransmitter | None = None
    s3: S3Transmitter | None = None


class FederatedLearningJobSpec(RunPolicy):
    aggregation_worker: AggregationWorker
    training_workers: list[TrainingWorker] = Field(min_length=1)
    pretrained_model: ModelRef | None = None
    transmitter: Transmitter | None = None
    max_restarts: int | None = Field(
        default=None, ge=0, description="Extension: restarts of a failed training worker before the job fails (default 3)."
    )
    scheduling_timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Extension: fail the job when one of its workers has been Pending this long (e.g. its "
        "nodeName names no node, or nothing can pull its image) instead of waiting for ever (default 600).",
    )


class FederatedLearningJobStatus(StatusModel):
    conditions: list[Condition] = Field(default_factory=list)
    start_time: datetime | None = None
    completion_time: datetime | None = None
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    phase: str | None = None
    current_round: int | None = Field(default=None, description="Extension: the last round the aggregator reported.")
    metrics: list[KeyValue] | None = Field(
        default=None,
        description="Extension: the aggregated model's metrics at currentRound, as the training workers "
        "evaluated it on their validation data (mean over the workers that reported them).",
    )
    observed_generation: int | None = None
    reports: dict[str, dict[str, Any]] | None = None
    controller_state: dict[str, Any] | None = None
