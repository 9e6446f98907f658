"""IncrementalLearningJob and LifelongLearningJob: the Train -> Eval -> Deploy cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field

from .base import Condition, ModelRef, PodTemplateSpec, ResourceName, RunPolicy, SpecModel, StatusModel
from .joint_inference import HardExampleMining
from .trigger import Trigger

__all__ = [
    "LEARNING_CONDITION_TYPES",
    "STAGES",
    "IncrementalLearningJobSpec",
    "IncrementalLearningJobStatus",
    "LifelongLearningJobSpec",
    "LifelongLearningJobStatus",
    "KnowledgeBaseStatus",
]

LEARNING_CONDITION_TYPES = ("Waiting", "Ready", "Starting", "Running", "Completed", "Failed")
STAGES = ("Train", "Eval", "Deploy")


class LearningDataset(SpecModel):
    name: ResourceName
    train_prob: float = Field(ge=0.0, le=1.0, description="Share of new samples used for training; the rest evaluate.")


class TrainSpec(SpecModel):
    template: PodTemplateSpec
    trigger: Trigger


class EvalSpec(SpecModel):
    template: PodTemplateSpec
    initial_eval_model: ModelRef | None = None


class DeployModel(SpecModel):
    name: ResourceName
    hot_update_enabled: bool | None = None
    poll_period_seconds: int | None = Field(default=None, ge=1, json_schema_extra={"crdDefault": 60})


class ILDeploySpec(SpecModel):
    model: DeployModel
    trigger: Trigger
    hard_example_mining: HardExampleMining
    template: PodTemplateSpec


class LLDeploySpec(SpecModel):
    template: PodTemplateSpec


class LLEvalSpec(SpecModel):
    template: PodTemplateSpec


class _LearningSpec(RunPolicy):
    output_dir: str = Field(min_length=1, description="Where round data and models go: a host path or s3://.")
    credential_name: ResourceName | None = None
    max_rounds: int | None = Field(
        default=None, ge=1, description="Extension: stop after this many completed Train/Eval/Deploy cycles (default: never)."
    )


class IncrementalLearningJobSpec(_LearningSpec):
    dataset: LearningDataset
    initial_model: ModelRef
    train_spec: TrainSpec
    eval_spec: EvalSpec
    deploy_spec: ILDeploySpec


class LifelongLearningJobSpec(_LearningSpec):
    dataset: LearningDataset
    train_spec: TrainSpec
    eval_spec: LLEvalSpec
    deploy_spec: LLDeploySpec


class _LearningStatus(StatusModel):
    conditions: list[Condition] = Field(default_factory=list)
    start_time: datetime | None = None
    completion_time: datetime | None = None
    round: int | None = Field(default=None, description="Extension: the current training round.")
    observed_generation: int | None = None
    reports: dict[str, dict[str, Any]] | None = None
    controller_state: dict[str, Any] | None = None
    lc_state: dict[str, Any] | None = Field(
        default=None,
        description="Extension, written by the local controller of the dataset's node only: "
        "round data files written and deploy copies done, so the operator knows without seeing the node.",
    )


class IncrementalLearningJobStatus(_LearningStatus):
    pass


class AIModel(StatusModel):
    model_id: str = Field(alias="modelID", validation_alias=AliasChoices("modelID", "model_id"))
    average_precision: float | None = None
    number_of_train_samples: int | None = None


class AIModels(StatusModel):
    number_of_ai_models: int = Field(
        default=0, alias="numberOfAIModels", validation_alias=AliasChoices("numberOfAIModels", "number_of_ai_models")
    )
    list_of_ai_models: list[AIModel] | None = Field(
        default=None, alias="listOfAIModels", validation_alias=AliasChoices("listOfAIModels", "list_of_ai_models")
    )


class AIClasses(StatusModel):
    number_of_ai_classes: int = Field(
        default=0, alias="numberOfAIClasses", validation_alias=AliasChoices("numberOfAIClasses", "number_of_ai_classes")
    )
    list_of_ai_classes: list[str] | None = Field(
        default=None, alias="listOfAIClasses", validation_alias=AliasChoices("listOfAIClasses", "list_of_ai_classes")
    )


class KBSamples(StatusModel):
    number_of_labeled_unseen_sample: int | None = None
    number_of_unseen_sample: int | None = None


class KnowledgeBaseStatus(StatusModel):
    ai_models: AIModels | None = Field(default=None, alias="AIModels", validation_alias=AliasChoices("AIModels", "ai_models"))
    ai_classes: AIClasses | None = Field(
        default=None, alias="AIClasses", validation_alias=AliasChoices("AIClasses", "ai_classes")
    )
    samples: KBSamples | None = None


class LifelongLearningJobStatus(_LearningStatus):
    knowledge_base: KnowledgeBaseStatus | None = None
