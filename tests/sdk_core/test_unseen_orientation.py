"""The orientation check of image tasks (sedna.algorithms.unseen_task_detection.orientation).

Mirrored 8x8 digits keep every pixel statistic of their domain, so the distance rules of both
knowledge bases let most of them through as seen (F1 0.11-0.46 in
tests/market/test_market_unseen_shifts.py). A pose classifier trained on the task's own images
catches them, without ever seeing a mirrored image in training.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sedna.algorithms.knowledge_management import fit_task_statistics
from sedna.algorithms.seen_task_learning.artifact import Samples, TaskGroup
from sedna.algorithms.unseen_task_detection import SampleRegonitionByDistance
from sedna.algorithms.unseen_task_detection.orientation import (
    DEFAULT_POSE_QUANTILE,
    IMAGE_SHAPE_ENV,
    POSE_QUANTILE_ENV,
    fit_orientation_profile,
    image_shape_from,
    pose_quantile_from,
)


def mirrored(images: np.ndarray) -> np.ndarray:
    return images.reshape(-1, 8, 8)[:, :, ::-1].reshape(len(images), -1)


@pytest.fixture(scope="module")
def digits() -> dict[str, np.ndarray]:
    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.data))
    images = data.data[order] / 16.0
    return {"train": images[:400], "held": images[400:700], "other": images[700:1000]}


@pytest.fixture(scope="module")
def index(digits: dict[str, np.ndarray]) -> dict:
    groups = [TaskGroup(entry="plain", samples=Samples(digits["train"]))]
    fit_task_statistics(groups, image_shape=(8, 8))
    for g in groups:
        g.samples = None
    return {"task_groups": groups}


def test_image_shape_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert image_shape_from("8x8") == (8, 8)
    assert image_shape_from([28, 28, 3]) == (28, 28, 3)
    monkeypatch.delenv(IMAGE_SHAPE_ENV, raising=False)
    assert image_shape_from(None) is None
    monkeypatch.setenv(IMAGE_SHAPE_ENV, "8X8")
    assert image_shape_from(None) == (8, 8)
    for bad in ("8", "axb", [0, 8], "1x2x3x4"):
        with pytest.raises(ValueError, match="image_shape"):
            image_shape_from(bad)


def test_a_shape_that_does_not_fit_the_samples_is_refused() -> None:
    with pytest.raises(ValueError, match="image_shape .*64 values.*65"):
        fit_orientation_profile(np.zeros((20, 65)), (8, 8))


def test_mirrored_images_are_unseen_and_upright_ones_are_not(index: dict, digits: dict[str, np.ndarray]) -> None:
    profile = index["task_groups"][0].orientation
    assert profile is not None and profile.shape == (8, 8)
    upright = float(np.mean(profile.scores(digits["held"]) > 1.0))
    flipped = float(np.mean(profile.scores(mirrored(digits["other"])) > 1.0))
    # threshold at the 0.97 held-out quantile: a few percent of new upright digits at most
    assert upright <= 0.06, upright
    assert flipped >= 0.6, flipped


def test_the_recogniser_uses_the_profile_and_the_index_keeps_it(index: dict, digits: dict[str, np.ndarray]) -> None:
    probe = np.concatenate([digits["held"], mirrored(digits["other"])])
    truth = np.r_[np.zeros(300, bool), np.ones(300, bool)]

    def recall_and_false_alarms(task_index: dict) -> tuple[float, float]:
        rec = SampleRegonitionByDistance(task_index=task_index)
        rec(Samples(probe))
        flagged = np.zeros(len(probe), bool)
        flagged[rec.unseen_index] = True
        return float(flagged[truth].mean()), float(flagged[~truth].mean())

    with_pose = recall_and_false_alarms(pickle.loads(pickle.dumps(index)))  # as saved in index.pkl
    plain_groups = [TaskGroup(entry="plain", samples=Samples(digits["train"]))]
    fit_task_statistics(plain_groups)
    without = recall_and_false_alarms({"task_groups": plain_groups})
    assert with_pose[0] >= 0.6 and with_pose[0] >= without[0] + 0.3, (with_pose, without)
    assert with_pose[1] <= without[1] + 0.05, (with_pose, without)


def test_tasks_without_a_profile_score_as_before(digits: dict[str, np.ndarray]) -> None:
    groups = [TaskGroup(entry="plain", samples=Samples(digits["train"]))]
    fit_task_statistics(groups)
    assert groups[0].orientation is None
    from sedna.algorithms.unseen_task_detection.orientation import with_orientation

    scores = np.array([0.5, 2.0])
    out = with_orientation({"task_groups": groups}, digits["held"][:2], np.zeros(2, int), scores)
    assert out is scores


def test_the_pose_quantile_sets_the_false_alarm_rate(digits: dict[str, np.ndarray],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """About ``1 - quantile`` of new upright digits are flagged: a higher quantile, fewer false
    alarms and fewer mirrored digits caught. The environment sets the default."""
    monkeypatch.setenv(POSE_QUANTILE_ENV, "0.9")
    loose = fit_orientation_profile(digits["train"], (8, 8))
    strict = fit_orientation_profile(digits["train"], (8, 8), quantile=0.999)
    assert loose.threshold < strict.threshold

    def flagged(profile: object, x: np.ndarray) -> float:
        return float(np.mean(profile.scores(x) > 1.0))  # type: ignore[attr-defined]

    assert flagged(loose, digits["held"]) > flagged(strict, digits["held"])
    assert 0.03 <= flagged(loose, digits["held"]) <= 0.2
    assert flagged(loose, mirrored(digits["other"])) > flagged(strict, mirrored(digits["other"]))
    monkeypatch.delenv(POSE_QUANTILE_ENV)
    assert pose_quantile_from(None) == DEFAULT_POSE_QUANTILE
    for bad in ("high", 0.3, 1.5):
        with pytest.raises(ValueError, match="pose_quantile"):
            pose_quantile_from(bad)


def test_lifelong_learning_passes_the_recogniser_parameters(tmp_path, fake_lc, monkeypatch) -> None:
    """``image_shape`` and ``pose_quantile`` given to the unseen-sample-recognition step reach
    the orientation profiles that ``train`` fits (one per task)."""
    import pandas as pd

    from sedna.algorithms.unseen_task_detection import orientation
    from sedna.core.lifelong_learning import LifelongLearning
    from tests.sdk_core.fl_client import Shard
    from tests.sdk_core.sdk_models import SoftmaxEstimator, load_digits_xy

    monkeypatch.setenv("JOB_NAME", "ll-pose")
    monkeypatch.setenv("WORKER_NAME", "ll-pose-train")
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path / "out"))
    seen: list[tuple[tuple[int, ...], float | None]] = []
    real = orientation.fit_orientation_profile

    def recording(X, image_shape, *, quantile=None, **kw):  # type: ignore[no-untyped-def]
        seen.append((orientation.image_shape_from(image_shape), quantile))
        return real(X, image_shape, quantile=quantile, **kw)

    monkeypatch.setattr(orientation, "fit_orientation_profile", recording)
    x, y = load_digits_xy()
    frames = []
    for domain, pixels in (("plain", x[:300]), ("inverted", 1.0 - x[:300])):
        df = pd.DataFrame(pixels, columns=[f"p{i}" for i in range(x.shape[1])])
        df["domain"] = domain
        frames.append(df)
    attr = {"param": {"attribute": ["domain"]}}
    ll = LifelongLearning(
        estimator=SoftmaxEstimator(epochs=5),
        task_definition={"method": "TaskDefinitionByDataAttr", **attr},
        task_allocation={"method": "TaskAllocationByDataAttr", **attr},
        unseen_sample_recognition={"method": "SampleRegonitionByDistance",
                                   "param": {"image_shape": "8x8", "pose_quantile": "0.99"}},
    )
    ll.train(Shard(pd.concat(frames, ignore_index=True), np.concatenate([y[:300], y[:300]])))
    assert seen == [((8, 8), 0.99), ((8, 8), 0.99)]
