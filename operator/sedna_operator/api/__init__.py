"""Pydantic models of every ``sedna.io/v1alpha1`` kind: the single source of truth for the CRDs."""

from .base import Condition, KeyValue, ObjectMeta, PodTemplateSpec
from .dataset import DatasetSpec, DatasetStatus, ModelSpec, ModelStatus
from .federated_learning import (
    FL_CONDITION_TYPES,
    FL_PHASES,
    FederatedLearningJobSpec,
    FederatedLearningJobStatus,
)
from .joint_inference import JI_CONDITION_TYPES, JointInferenceServiceSpec, JointInferenceServiceStatus
from .learning import (
    LEARNING_CONDITION_TYPES,
    STAGES,
    IncrementalLearningJobSpec,
    IncrementalLearningJobStatus,
    KnowledgeBaseStatus,
    LifelongLearningJobSpec,
    LifelongLearningJobStatus,
)
from .resources import (
    API_VERSION,
    CATEGORY,
    GROUP,
    KINDS,
    VERSION,
    Dataset,
    FederatedLearningJob,
    FieldError,
    IncrementalLearningJob,
    JointInferenceService,
    KindInfo,
    LifelongLearningJob,
    Model,
    Resource,
    ResourceValidationError,
    kind_info,
    parse_resource,
)
from .trigger import OPERATOR_ALIASES, Trigger, TriggerCondition
from .yamlio import load_manifests

__all__ = [
    "API_VERSION", "CATEGORY", "GROUP", "VERSION", "KINDS", "KindInfo", "kind_info",
    "Resource", "Dataset", "Model", "JointInferenceService", "FederatedLearningJob",
    "IncrementalLearningJob", "LifelongLearningJob",
    "DatasetSpec", "DatasetStatus", "ModelSpec", "ModelStatus",
    "JointInferenceServiceSpec", "JointInferenceServiceStatus",
    "FederatedLearningJobSpec", "FederatedLearningJobStatus",
    "IncrementalLearningJobSpec", "IncrementalLearningJobStatus",
    "LifelongLearningJobSpec", "LifelongLearningJobStatus", "KnowledgeBaseStatus",
    "Condition", "KeyValue", "ObjectMeta", "PodTemplateSpec", "Trigger", "TriggerCondition",
    "OPERATOR_ALIASES", "JI_CONDITION_TYPES", "FL_CONDITION_TYPES", "FL_PHASES",
    "LEARNING_CONDITION_TYPES", "STAGES",
    "parse_resource", "ResourceValidationError", "FieldError", "load_manifests",
]  # fmt: skip
