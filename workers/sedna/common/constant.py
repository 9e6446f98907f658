"""Sedna's constants (``sedna.common.constant``), as ``StrEnum``s.

Sedna's scripts write ``K8sResourceKind.INCREMENTAL_JOB.value``; a ``StrEnum`` member also *is*
its value, so code that compares, formats or JSON-encodes it directly sees the plain string.
"""

from __future__ import annotations

from enum import Enum, StrEnum

__all__ = ["K8sResourceKind", "K8sResourceKindStatus", "KBResourceConstant", "ModelType", "Framework"]


class K8sResourceKind(StrEnum):
    """``ownerKind`` values of worker reports (the lower-case CRD kinds)."""

    DEFAULT = "default"
    JOINT_INFERENCE_SERVICE = "jointinferenceservice"
    FEDERATED_LEARNING_JOB = "federatedlearningjob"
    INCREMENTAL_JOB = "incrementallearningjob"
    LIFELONG_JOB = "lifelonglearningjob"
    # Sedna 0.5+: multi-edge inference kinds (this operator has no such CRDs; kept for imports)
    REID_JOB = "reidjob"
    VIDEO_ANALYTICS_JOB = "videoanalyticsjob"
    FEATURE_EXTRACTION_SERVICE = "featureextractionservice"


class K8sResourceKindStatus(StrEnum):
    """``status`` of a worker report."""

    COMPLETED = "completed"
    FAILED = "failed"
    RUNNING = "running"
    READY = "ready"


class KBResourceConstant(Enum):
    """Names and defaults of the lifelong-learning knowledge base (0.4+, 0.6+ additions)."""

    MIN_TRAIN_SAMPLE = 10
    KB_INDEX_NAME = "index.pkl"
    TASK_EXTRACTOR_NAME = "task_attr_extractor.pkl"
    SEEN_TASK = "seen_task"
    UNSEEN_TASK = "unseen_task"
    TASK_GROUPS = "task_groups"
    EXTRACTOR = "extractor"
    EDGE_KB_DIR = "/var/lib/sedna/kb"


class ModelType(StrEnum):
    """Sedna 0.3's model kinds. The reference names the class, not its members: these exist so
    that 0.3 imports work; no code here reads them."""

    GLOBAL_MODEL = "global_model"
    PERSONAL_MODEL = "personal_model"


class Framework(StrEnum):
    """Sedna 0.3's framework names (members as ``ModelType``: for imports only)."""

    TENSORFLOW = "tensorflow"
    PYTORCH = "pytorch"
    MINDSPORE = "mindspore"
