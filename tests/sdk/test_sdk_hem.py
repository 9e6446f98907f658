"""Hard example mining: Sedna's rules on hand-computed values, undefined cases, batch()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sedna.algorithms.hard_example_mining import (
    CloudOnlyFilter,
    CrossEntropyFilter,
    EdgeOnlyFilter,
    IBTFilter,
    RandomFilter,
    ThresholdFilter,
)
from sedna.common.class_factory import ClassFactory, ClassType


def test_registered_aliases() -> None:
    for alias, cls in {
        "Threshold": ThresholdFilter,
        "CrossEntropy": CrossEntropyFilter,
        "IBT": IBTFilter,
        "Random": RandomFilter,
        "CloudOnly": CloudOnlyFilter,
        "EdgeOnly": EdgeOnlyFilter,
    }.items():
        assert ClassFactory.get_cls(ClassType.HEM, alias) is cls


def test_cross_entropy_hand_values() -> None:
    f = CrossEntropyFilter()  # threshold_cross_entropy = 0.5
    # p = (0.5, 0.25, 0.25): Σ p ln p = 0.5·ln 0.5 + 2·0.25·ln 0.25 = -1.5·ln 2 = -1.039721
    # confidence = 1 - 1.039721 / ln 3 (1.098612) = 1 - 0.946395 = 0.053605 -> hard
    assert f.confidence([0.5, 0.25, 0.25]) == pytest.approx(0.053605, abs=1e-6)
    assert f([0.5, 0.25, 0.25]) is True
    # p = (0.9, 0.1): Σ p ln p = -0.094825 - 0.230259 = -0.325083; / ln 2 = -0.468996
    # confidence = 0.531004: not hard at 0.5, hard at 0.6 (parameter given as a string)
    assert f.confidence([0.9, 0.1]) == pytest.approx(0.531004, abs=1e-6)
    assert f([0.9, 0.1]) is False
    assert CrossEntropyFilter(threshold_cross_entropy="0.6")([0.9, 0.1]) is True
    # uniform -> confidence 0; one-hot -> 1 (p = 0 contributes 0)
    assert f.confidence([0.5, 0.5]) == pytest.approx(0.0)
    assert f.confidence([1.0, 0.0, 0.0]) == 1.0 and f([1.0, 0.0, 0.0]) is False
    # numpy input, including a (1, C) row, gives the same numbers
    assert f.confidence(np.array([0.5, 0.25, 0.25])) == pytest.approx(0.053605, abs=1e-6)
    assert f.confidence(np.array([[0.9, 0.1]])) == pytest.approx(0.531004, abs=1e-6)


@pytest.mark.parametrize("bad", [None, [], [1.2, -0.2], [0.5, float("nan")], ["a", "b"], np.array([])])
def test_cross_entropy_invalid_is_not_hard(bad: object) -> None:
    assert CrossEntropyFilter(threshold_cross_entropy=1.0)(bad) is False


def test_cross_entropy_single_class() -> None:
    assert CrossEntropyFilter().confidence([0.7]) == 1.0
    assert CrossEntropyFilter()([0.7]) is False


def test_threshold_rule() -> None:
    f = ThresholdFilter(threshold="0.5")
    # mean score (0.3 + 0.5) / 2 = 0.4 < 0.5 -> hard
    assert f([[0, 0, 1, 1, 0.3, 1], [0, 0, 1, 1, 0.5, 2]]) is True
    assert f([[0, 0, 1, 1, 0.9, 1]]) is False
    assert f([[0, 0, 1, 1, 0.5, 1]]) is False  # strict <
    assert f([[0, 0, 1, 1]]) is False  # a box needs more than 4 fields
    assert f([]) is False and f(None) is False
    assert f.filter([[0, 0, 1, 1, 0.1, 0]]) is True


def test_ibt_rule() -> None:
    boxes = [[0, 0, 1, 1, 0.2, 0], [0, 0, 1, 1, 0.4, 0], [0, 0, 1, 1, 0.9, 0]]
    # k = #(score <= 0.5) = 2; 2/3 >= 1 - 0.5 -> hard
    assert IBTFilter()(boxes) is True
    # threshold_img 0.2: 2/3 < 0.8 -> not hard
    assert IBTFilter(threshold_img="0.2")(boxes) is False
    assert IBTFilter()([[0, 0, 1, 1, 1.5, 0]]) is False  # out of [0, 1]
    assert IBTFilter()([[0, 0, 1, 1, 0.0, 0]]) is True  # 0 is a valid score here
    assert IBTFilter()([]) is False


def test_random_cloud_edge() -> None:
    assert not any(RandomFilter(random_ratio="0")(None) for _ in range(100))
    assert all(RandomFilter(random_ratio=1)(None) for _ in range(100))
    single = RandomFilter(random_ratio=0.3, seed=1)
    assert 0.27 < np.mean([single(None) for _ in range(5000)]) < 0.33
    assert 0.28 < RandomFilter(random_ratio=0.3, seed=1).batch(range(20000)).mean() < 0.32
    a, b = RandomFilter(seed=7).batch(range(50)), RandomFilter(seed=7).batch(range(50))
    assert (a == b).all()
    assert CloudOnlyFilter()([]) is True and EdgeOnlyFilter()([0.1]) is False
    assert CloudOnlyFilter().batch([1, 2]).tolist() == [True, True]
    assert EdgeOnlyFilter().batch([1, 2]).tolist() == [False, False]


def test_cross_entropy_batch_matches_single() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5) * 0.5, size=300)
    probs[0] = [1, 0, 0, 0, 0]
    probs[1] = [1.5, -0.5, 0, 0, 0]
    f = CrossEntropyFilter(threshold_cross_entropy=0.4)
    expected = np.array([f(p) for p in probs.tolist()])
    assert expected.any() and not expected.all()
    assert (f.batch(probs) == expected).all()  # rectangular array path
    conf, valid = f.batch_confidence(probs)
    singles = [f.confidence(p) for p in probs.tolist()]
    assert valid.tolist() == [c is not None for c in singles]
    np.testing.assert_allclose(conf[valid], [c for c in singles if c is not None], rtol=1e-12)
    ragged = [list(p[: 2 + i % 4] / p[: 2 + i % 4].sum()) for i, p in enumerate(probs[2:])]
    ragged += [[], [0.3], ["x"], None]
    expected_r = np.array([f(r) for r in ragged])
    assert (f.batch(ragged) == expected_r).all()  # ragged path


def test_box_filters_batch_match_single() -> None:
    rng = np.random.default_rng(1)
    results: list[object] = []
    for i in range(200):
        n = 1 + i % 6
        boxes = np.column_stack([rng.random((n, 4)), rng.random(n), rng.integers(0, 3, n)])
        results.append(boxes.tolist() if i % 2 else boxes)
    results += [[], None, [[0, 0, 1, 1]], [[0, 0, 1, 1, 2.0, 0]]]
    for f in (ThresholdFilter(threshold=0.45), IBTFilter(threshold_img=0.4, threshold_box=0.6)):
        expected = np.array([f(r) for r in results])
        assert expected.any() and not expected.all()
        assert (f.batch(results) == expected).all()
    cube = rng.random((50, 4, 6))
    for f in (ThresholdFilter(), IBTFilter()):
        assert (f.batch(cube) == np.array([f(c.tolist()) for c in cube])).all()


def test_empty_batch() -> None:
    for f in (ThresholdFilter(), CrossEntropyFilter(), IBTFilter(), RandomFilter()):
        assert f.batch([]).shape == (0,)


def test_entropy_formula_matches_math() -> None:
    p = [0.6, 0.3, 0.1]
    by_hand = 1 + sum(x * math.log(x) for x in p) / math.log(3)
    assert CrossEntropyFilter().confidence(p) == pytest.approx(by_hand, rel=1e-15)


def test_threshold_and_ibt_take_class_probabilities() -> None:
    # a classifier's output needs no fake detection box: its top probability is the score
    threshold = ClassFactory.get_cls(ClassType.HEM, "Threshold")(threshold="0.6")
    ibt = ClassFactory.get_cls(ClassType.HEM, "IBT")(threshold_img=0.5, threshold_box=0.6)
    unsure, sure = [0.5, 0.3, 0.2], np.array([0.9, 0.05, 0.05])
    assert threshold(unsure) and not threshold(sure)
    assert ibt(unsure) and not ibt(sure)
    probs = np.array([unsure, sure.tolist(), [0.59, 0.41, 0.0]])
    assert threshold.batch(probs).tolist() == [True, False, True]
    assert ibt.batch(list(probs)).tolist() == [True, False, True]
    # boxes keep Sedna's meaning
    assert threshold([[0, 0, 1, 1, 0.3, 1]]) and not threshold([[0, 0, 1, 1, 0.9, 1]])
