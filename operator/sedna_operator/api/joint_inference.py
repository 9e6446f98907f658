"""JointInferenceService: an edge worker that answers easy samples and asks a cloud worker for hard ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from .base import Condition, KeyValue, ModelRef, PodTemplateSpec, SpecModel, StatusModel

__all__ = ["HardExampleMining", "HPA", "EdgeWorker", "CloudWorker", "JointInferenceServiceSpec", "JointInferenceServiceStatus", "JI_CONDITION_TYPES"]

JI_CONDITION_TYPES = ("Pending", "Running", "Failed")


class HardExampleMining(SpecModel):
    name: str = Field(min_length=1, description="Algorithm alias: IBT, CrossEntropy, Threshold, Random, CloudOnly, EdgeOnly, ...")
    parameters: list[KeyValue] | None = None


class HPA(SpecModel):
    """A HorizontalPodAutoscaler for the worker's Deployment (autoscaling/v2 fields)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                    "message": "minReplicas must not exceed maxReplicas",
                }
            ]
        }
    )

    min_replicas: int | None = Field(default=None, ge=1)
    max_replicas: int = Field(ge=1)
    metrics: list[dict[str, Any]] | None = None
    behavior: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _min_le_max(self) -> HPA:
        if self.min_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must not exceed maxReplicas ({self.max_replicas})")
        return self


class EdgeWorker(SpecModel):
    model: ModelRef
    hard_example_mining: HardExampleMining
    template: PodTemplateSpec
    hpa: HPA | None = None


class CloudWorker(SpecModel):
    model: ModelRef
    template: PodTemplateSpec
    hpa: HPA | None = None


class JointInferenceServiceSpec(SpecModel):
    edge_worker: EdgeWorker
    cloud_worker: CloudWorker


class JointInferenceServiceStatus(StatusModel):
    conditions: list[Condition] = Field(default_factory=list)
    start_time: datetime | None = None
    active: int = 0
    failed: int = 0
    metrics: list[KeyValue] | None = None
    cloud_service_url: str | None = Field(
        default=None,
        alias="cloudServiceURL",
        description="Where the big-model service answers inside the cluster (additive to Sedna's status).",
    )
    observed_generation: int | None = None
    reports: dict[str, dict[str, Any]] | None = None
    controller_state: dict[str, Any] | None = None
