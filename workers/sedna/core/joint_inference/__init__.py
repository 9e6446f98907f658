"""``from sedna.core.joint_inference import JointInference, BigModelService``."""

from sedna.core.joint_inference.joint_inference import (
    BigModelService,
    InferenceReporter,
    JointInference,
    TSBigModelService,
)

__all__ = ["JointInference", "BigModelService", "TSBigModelService", "InferenceReporter"]
