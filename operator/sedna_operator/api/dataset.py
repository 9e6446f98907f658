"""Dataset and Model: the data and model artefacts jobs refer to by name."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .base import KeyValue, ResourceName, SpecModel, StatusModel

__all__ = ["DatasetSpec", "DatasetStatus", "ModelSpec", "ModelStatus"]


class DatasetSpec(SpecModel):
    url: str = Field(min_length=1, description="Index file of the samples: a path on nodeName, or s3:// / http(s)://.")
    format: str = Field(min_length=1, description="txt (one sample a line) or csv (header line first); others are stored but not counted.")
    node_name: str = Field(min_length=1, description="Node whose local controller watches the dataset.")
    credential_name: ResourceName | None = Field(default=None, description="Secret with S3 credentials.")


class DatasetStatus(StatusModel):
    number_of_samples: int = Field(default=0, ge=0)
    update_time: datetime | None = None
    message: str | None = Field(default=None, description="Why the last count failed or was reset, if it did.")


class ModelSpec(SpecModel):
    url: str = Field(min_length=1, description="Model file or directory: a host path, s3:// or http(s)://.")
    format: str = Field(min_length=1, description="Free-form format tag (pb, ckpt, pth, pkl, ...).")
    device_soc_versions: list[str] | None = Field(default=None, alias="device_soc_versions")
    credential_name: ResourceName | None = None


class ModelStatus(StatusModel):
    update_time: datetime | None = None
    metrics: list[KeyValue] | None = None
