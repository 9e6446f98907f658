"""Property tests of the FL aggregation server's update checks (``update_problem`` after
``weights_from_json``, as the server applies them to every ``update_weight`` message).

Properties: any JSON ``num_samples`` and ``weights`` give an answer (a reason or None), never
an exception other than the ``TypeError``/``ValueError`` the server turns into a rejection;
an accepted update really has an integer ``num_samples`` in ``[0, max]`` and finite numeric
weights shaped like the reference; each refusal names what is wrong.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from sedna.service.server.aggregation import update_problem
from sedna.service.wire import weights_from_json

MAX = 1_000_000_000
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(alphabet="0123456789 -+.e_x", max_size=12)
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=16
)
reference = st.lists(arrays(np.float64, array_shapes(max_dims=2, max_side=3), elements=st.floats(-5, 5)), min_size=1, max_size=3)


@given(num_samples=json_values, weights=json_values, ref=st.none() | reference)
@settings(max_examples=200)
def test_any_update_is_judged_without_raising(num_samples: Any, weights: Any, ref: list[np.ndarray] | None) -> None:
    try:
        decoded = weights_from_json(weights or [])
    except (TypeError, ValueError):
        return  # the server answers "weights cannot be read"
    problem = update_problem(num_samples, decoded, ref, MAX)
    if problem is not None:
        assert isinstance(problem, str) and problem
        return
    n = int(num_samples)
    assert 0 <= n <= MAX and (n == num_samples or str(num_samples).strip() == str(n))
    assert decoded and all(np.issubdtype(w.dtype, np.number) and np.all(np.isfinite(w)) for w in decoded)
    if ref is not None:
        assert [w.shape for w in decoded] == [r.shape for r in ref]


@given(ref=reference, n=st.integers(0, MAX))
def test_a_well_formed_update_is_accepted(ref: list[np.ndarray], n: int) -> None:
    weights = weights_from_json([w.tolist() for w in ref])
    assert update_problem(n, weights, ref, MAX) is None
    assert update_problem(str(n), weights, ref, MAX) is None


@given(ref=reference, n=st.integers(MAX + 1, 2**63) | st.integers(-(2**63), -1))
def test_num_samples_outside_the_limit_is_refused(ref: list[np.ndarray], n: int) -> None:
    problem = update_problem(n, ref, ref, MAX)
    assert problem is not None and "num_samples" in problem and str(MAX) in problem


@given(ref=reference, data=st.data(), bad=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_weights_are_refused_naming_the_layer(ref: list[np.ndarray], data: st.DataObject, bad: float) -> None:
    layer = data.draw(st.integers(0, len(ref) - 1))
    weights = [w.copy() for w in ref]
    weights[layer] = np.asarray(weights[layer], dtype=np.float64)
    weights[layer].flat[data.draw(st.integers(0, max(weights[layer].size - 1, 0)))] = bad
    problem = update_problem(10, weights, ref, MAX)
    assert problem is not None and f"weights[{layer}]" in problem


@given(ref=reference, other=reference)
def test_other_shapes_are_refused(ref: list[np.ndarray], other: list[np.ndarray]) -> None:
    problem = update_problem(10, other, ref, MAX)
    same = [w.shape for w in other] == [w.shape for w in ref]
    assert (problem is None) == same
    if not same:
        assert "shape" in problem
