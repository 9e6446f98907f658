"""Hetero reuse (issue 13 item 3): a model from another feature space, made usable by feature
alignment (and output alignment with labels), against the user's own model and against
learnware's MMD-only alignment, on breast_cancer column subsets (``bench/hetero.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sedna_market.hetero.align import (
    FeatureAlignLearnware,
    HeteroMapAlignLearnware,
    description_correspondence,
)
from sedna_market.spec.rkme import generate_rkme_table_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import hetero as bench  # noqa: E402


def test_alignment_beats_the_users_own_model_with_few_labels() -> None:
    """Two seeds, 6 labels each: the table in docs/market.md ("Hetero market") has three."""
    rows = [bench.reuse_case(seed, labels=6) for seed in (0, 1)]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    for r in rows:
        # the aligned model alone (no labels) beats a model of the user's 6 labels, every seed
        assert r["aligned (descriptions + MMD)"] > r["user only"], r
    assert mean["aligned (descriptions + MMD)"] >= 0.9, mean
    # learnware's MMD-only map does not know which column is which
    assert mean["aligned (descriptions + MMD)"] > mean["aligned (MMD only)"] + 0.1, mean
    assert mean["HeteroMapAlign (+labels)"] > mean["user only"], mean


class _Sum:
    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X).sum(axis=1)


def test_descriptions_give_the_column_correspondence_and_mmd_keeps_it() -> None:
    A = description_correspondence(["body mass index", "age of the patient", "shoe size"],
                                   ["age of the patient", "body mass index", "blood sugar level"])
    assert A.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    rng = np.random.default_rng(0)
    Xm = rng.normal(size=(200, 2)) * [1.0, 2.0]
    user = Xm[:, ::-1]  # the same two features, in the other order
    aligned = FeatureAlignLearnware(_Sum(), generate_rkme_table_spec(Xm, reduced_set_size=30),
                                    model_descriptions=["age", "body mass index"])
    aligned.align(generate_rkme_table_spec(user, reduced_set_size=30), user_descriptions=["body mass index", "age"])
    assert np.allclose(aligned.transform(user[:50]), Xm[:50], atol=0.3)
    assert aligned.losses[-1] <= aligned.losses[0] + 1e-6


def test_hetero_map_align_without_labels_is_the_aligned_model() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    spec = generate_rkme_table_spec(X, reduced_set_size=20)
    with pytest.raises(RuntimeError, match="call align"):
        FeatureAlignLearnware(_Sum(), spec).predict(X)
    reuse = HeteroMapAlignLearnware(_Sum(), spec, mode="regression", epochs=20)
    with pytest.warns(UserWarning, match="feature alignment only"):
        reuse.align(spec)
    assert reuse.reuser is None
    assert np.array_equal(reuse.predict(X), reuse.aligned.predict(X))
    reuse.align(spec, X[:30], X[:30].sum(axis=1))
    assert reuse.reuser is not None
    assert np.mean((reuse.predict(X) - X.sum(axis=1)) ** 2) < 0.05
