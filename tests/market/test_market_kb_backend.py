"""The market plugs into the worker SDK as the ``market`` knowledge base (entry point group
``sedna.knowledge_bases``), and offers every operation of the SDK's ``MarketOps`` protocol."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import numpy as np

from sedna.algorithms.knowledge_management.backends import ENTRY_POINT_GROUP, resolve_target
from sedna.algorithms.knowledge_management.market_kb import MARKET_BACKEND, MarketOps
from sedna_market.kb_backend import MarketBackend

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pyproject_registers_the_market_backend() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    target = project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}).get(MARKET_BACKEND)
    assert target == "sedna_market.kb_backend:MarketBackend"
    assert resolve_target(target) is MarketBackend


def test_market_backend_offers_every_operation_with_the_protocol_signature() -> None:
    wanted = {name for name, member in vars(MarketOps).items()
              if callable(member) and not name.startswith("_")}
    assert len(wanted) >= 10
    for name in sorted(wanted):
        got = inspect.signature(getattr(MarketBackend, name))
        want = inspect.signature(getattr(MarketOps, name))
        assert list(got.parameters) == list(want.parameters), name


def test_specs_and_profiles_round_trip_and_score() -> None:
    market = MarketBackend()
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, size=(120, 3))
    spec = market.rkme_spec(x, 0.2, 10)
    assert spec.gamma == 0.2
    again = market.spec_from_dict(spec.to_dict())
    groups = market.stack_specs([("a", spec), ("b", again)])
    assert len(groups) == 1 and list(groups[0].ids) == ["a", "b"]
    dist = market.point_distances(x[:5], groups[0], 0.2)
    assert dist.shape == (5, 2) and np.allclose(dist[:, 0], dist[:, 1])
    profile = market.fit_profile(x, 0.99, 1.0, 3, 10, 0.2, 8.0)
    copy = market.profile_from_dict(profile.to_dict())
    far = rng.normal(25.0, 1.0, size=(5, 3))
    assert copy.threshold == profile.threshold and profile.dim == 3
    assert np.all(copy.normalised(far) > 1) and np.median(copy.normalised(x)) < 1
