"""RKME spec math checked against independent numpy computations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sedna_market.spec.qp import solve_simplex_qp
from sedna_market.spec.rkme import (
    RKMETableSpec,
    clean_data,
    empirical_mmd2,
    generate_rkme_table_spec,
    resolve_reduced_set_size,
)
from sedna_market.spec.semantic import SemanticSpec, generate_semantic_spec


def naive_kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    out = np.empty((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = np.exp(-gamma * np.sum((a[i] - b[j]) ** 2))
    return out


def test_dist_equals_kernel_mean_formula() -> None:
    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=(7, 3)), rng.normal(1.0, size=(5, 3))
    b1, b2 = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(5))
    g = 0.3
    s1, s2 = RKMETableSpec(z1, b1, g), RKMETableSpec(z2, b2, g)
    expected = (
        b1 @ naive_kernel(z1, z1, g) @ b1 - 2 * b1 @ naive_kernel(z1, z2, g) @ b2 + b2 @ naive_kernel(z2, z2, g) @ b2
    )
    assert s1.dist(s2) == pytest.approx(expected, rel=1e-10)
    assert s1.inner_prod(s2) == pytest.approx(b1 @ naive_kernel(z1, z2, g) @ b2, rel=1e-10)
    assert s1.dist(s1) == pytest.approx(0.0, abs=1e-12)
    assert s1.dist(s2, omit_term1=True) == pytest.approx(expected - b1 @ naive_kernel(z1, z1, g) @ b1, rel=1e-10)


def test_rkme_approximates_embedding_better_as_reduced_set_grows() -> None:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 1, size=(300, 3)), rng.normal(2, 0.5, size=(300, 3))])
    errs = [empirical_mmd2(generate_rkme_table_spec(X, reduced_set_size=k), X) for k in (2, 8, 32, 128)]
    assert all(a > b for a, b in zip(errs, errs[1:], strict=False)), errs
    # independent check of the error formula for the largest set
    spec = generate_rkme_table_spec(X, reduced_set_size=128)
    g = spec.gamma
    Kxx = np.exp(-g * ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)).mean()
    Kzx = np.exp(-g * ((spec.z[:, None, :] - X[None, :, :]) ** 2).sum(-1)).mean(axis=1)
    Kzz = np.exp(-g * ((spec.z[:, None, :] - spec.z[None, :, :]) ** 2).sum(-1))
    assert empirical_mmd2(spec, X) == pytest.approx(Kxx - 2 * spec.beta @ Kzx + spec.beta @ Kzz @ spec.beta, abs=1e-9)
    assert errs[-1] < 0.01


def test_beta_is_on_simplex_and_qp_is_optimal() -> None:
    rng = np.random.default_rng(2)
    spec = generate_rkme_table_spec(rng.normal(size=(200, 4)), reduced_set_size=10)
    assert spec.beta.min() >= 0 and spec.beta.sum() == pytest.approx(1.0)
    P = naive_kernel(rng.normal(size=(6, 2)), rng.normal(size=(6, 2)), 0.5)
    P = P @ P.T
    c = rng.normal(size=6)
    w, obj = solve_simplex_qp(P, c)
    # no random simplex point does better than the solver
    for _ in range(2000):
        v = rng.dirichlet(np.ones(6) * 0.3)
        assert 0.5 * v @ P @ v - c @ v >= obj - 1e-6


@pytest.mark.parametrize("duplicates", [False, True])
def test_dense_and_interior_point_solvers_agree(duplicates: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dense active-set solver (DAQP, the fast path) and Clarabel (the fallback) reach the
    same optimum, Gram matrices with coinciding points (singular) included; without DAQP's
    answer the fallback still returns an optimal point of the simplex."""
    import qpsolvers

    from sedna_market.spec import qp

    assert "daqp" in qpsolvers.available_solvers
    rng = np.random.default_rng(5)
    for n in (2, 5, 25):
        X = rng.normal(size=(n, 3))
        if duplicates:
            X[n // 2:] = X[: n - n // 2]
        P = naive_kernel(X, X, 0.3)
        c = rng.uniform(0.0, 0.6, size=n)
        fast_w, fast = qp.solve_simplex_qp(P, c)
        with monkeypatch.context() as m:
            m.setattr(qp, "_dense", lambda *_: None)
            slow_w, slow = qp.solve_simplex_qp(P, c)
        assert fast == pytest.approx(slow, abs=1e-7)
        assert fast_w.min() >= 0 and fast_w.sum() == pytest.approx(1.0)
        for _ in range(500):
            v = rng.dirichlet(np.ones(n) * 0.3)
            assert 0.5 * v @ P @ v - c @ v >= fast - 1e-7


def test_reduced_set_size_rules_and_small_data() -> None:
    assert resolve_reduced_set_size(100, 1000, 10) == 100
    assert resolve_reduced_set_size(100, 90, 10) == 60
    assert resolve_reduced_set_size(100, 1, 10) == 1
    assert resolve_reduced_set_size(100, 10**6, 100_000) == 20
    assert resolve_reduced_set_size(1000, 10**6, 2048) == 640
    spec = generate_rkme_table_spec(np.random.default_rng(0).normal(size=(30, 2)), reduced_set_size=100)
    assert spec.z.shape == (20, 2) and spec.num_points == 30


def test_nan_inf_cleaning() -> None:
    X = np.array([[1.0, np.nan], [3.0, 4.0], [np.inf, 8.0]])
    cleaned = clean_data(X)
    assert np.array_equal(cleaned, [[1.0, 6.0], [3.0, 4.0], [2.0, 8.0]])
    with pytest.raises(ValueError, match="only NaN"):
        clean_data(np.array([[1.0, np.nan], [2.0, np.inf]]))
    spec = generate_rkme_table_spec(np.where(np.random.default_rng(0).random((50, 3)) < 0.1, np.nan, 1.0), reduced_set_size=5)
    assert np.all(np.isfinite(spec.z))


def test_no_reduce_keeps_points() -> None:
    X = np.random.default_rng(0).normal(size=(12, 3))
    spec = generate_rkme_table_spec(X, reduce=False)
    assert np.array_equal(spec.z, X) and np.allclose(spec.beta, 1 / 12)


def test_json_compatible_with_learnware_files(tmp_path) -> None:
    # A file in the layout learnware writes (RKMETableSpecification.save)
    data = {"z": [[0.0, 1.0], [1.0, 0.0]], "beta": [0.25, 0.75], "gamma": 0.1, "num_points": 9,
            "type": "RKMETableSpecification"}
    (tmp_path / "stat_spec.json").write_text(json.dumps(data))
    spec = RKMETableSpec.load(tmp_path / "stat_spec.json")
    assert spec.num_points == 9 and spec.feature_shape == (2,)
    assert json.loads(spec.to_json()) == data
    with pytest.raises(ValueError, match="unsupported"):
        RKMETableSpec.from_dict({**data, "type": "RKMEImageSpecification"})
    with pytest.raises(ValueError, match="NaN"):
        RKMETableSpec.from_dict({**data, "beta": [float("nan"), 1.0]})


def test_herding_samples_follow_embedding() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 0.5, size=(300, 2))
    spec = generate_rkme_table_spec(X, reduced_set_size=10)
    pts = spec.herding(50)
    assert pts.shape == (50, 2) and np.abs(pts.mean(axis=0) - 3.0).max() < 0.5


def test_semantic_spec_roundtrip() -> None:
    sem = generate_semantic_spec(name="n", description="d", data_type="Table", task_type="Regression",
                                 library_type="Others", scenarios="Nature", license="MIT",
                                 input_description={"Dimension": 2, "Description": {"0": "a"}},
                                 output_description={"Dimension": 1, "Description": {}})
    d = sem.to_dict()
    assert d["Data"] == {"Type": "Class", "Values": ["Table"]}
    assert d["Scenario"] == {"Type": "Tag", "Values": ["Nature"]}
    assert SemanticSpec.from_dict(d) == sem
    # learnware sometimes stores a single Class value as a string
    assert SemanticSpec.from_dict({"Data": {"Type": "Class", "Values": "Table"}}).first("Data") == "Table"
