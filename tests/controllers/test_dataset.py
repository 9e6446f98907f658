"""Dataset and Model status from the observation."""

from __future__ import annotations

import pytest

from sedna_operator.controllers import dataset as dsr
from sedna_operator.controllers import reconcile

from .helpers import NOW, dataset, observe, sample


@pytest.mark.parametrize("status,count,patch,events", [
    ({}, 10, {"numberOfSamples": 10, "updateTime": "2024-05-01T12:00:00Z"}, 1),
    ({"numberOfSamples": 10, "updateTime": "2024-05-01T11:00:00Z"}, 10, {}, 0),
    ({"numberOfSamples": 10, "updateTime": "2024-05-01T11:00:00Z"}, 4, {"numberOfSamples": 4, "updateTime": "2024-05-01T12:00:00Z"}, 1),
])
def test_dataset_counts(status: dict, count: int, patch: dict, events: int) -> None:
    obj = sample("dataset_v1alpha1.yaml", **status)
    plan = reconcile(observe(obj, datasets={"dataset-demo0": dataset("dataset-demo0", "/code/data/train.txt", count)}))
    assert plan.status_patch == patch and len(plan.events) == events


def test_dataset_unobserved_and_model() -> None:
    assert dsr.reconcile(observe(sample("dataset_v1alpha1.yaml"))).status_patch == {}
    assert dsr.reconcile(observe(sample("model_v1alpha1.yaml"))).status_patch == {"updateTime": "2024-05-01T12:00:00Z"}
    stamped = sample("model_v1alpha1.yaml", updateTime=NOW.isoformat())
    assert dsr.reconcile(observe(stamped)).status_patch == {}
