"""Property tests of the SDK's parameter parsers (``workers/sedna/common``): ``parse_param``,
``Context.get_parameters`` / ``get_algorithm_from_api``, ``PARAMETERS``, ``Config``,
``str_to_bool`` / ``to_float`` / ``to_int``.

Properties: any input gives a value or the documented ``ValueError`` (never another
exception); the three spellings of parameters (dict, JSON object, key/value list) give the
same dict; the environment wins over ``PARAMETERS``, and an empty value counts as unset.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sedna.common.config import BaseConfig, Config, Context
from sedna.common.utils import parse_param, str_to_bool, to_float, to_int

json_scalars = st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=16)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
params = st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=6)
env_name = st.from_regex(r"\AADV_[A-Z0-9_]{1,10}\Z")


@given(json_values | st.text(max_size=200) | json_values.map(json.dumps))
def test_parse_param_gives_a_dict_or_a_value_error(value: Any) -> None:
    try:
        out = parse_param(value, where="HEM_PARAMETERS")
    except ValueError as exc:
        assert "HEM_PARAMETERS" in str(exc)
        return
    assert isinstance(out, dict)


@given(params)
def test_parse_param_spellings_agree(p: dict[str, Any]) -> None:
    as_list = [{"key": k, "value": v} for k, v in p.items()]
    pairs = [[k, v] for k, v in p.items()]
    assert parse_param(p) == p
    assert parse_param(json.dumps(p)) == p
    assert parse_param(json.dumps(as_list)) == p
    assert parse_param(as_list) == p
    assert parse_param(pairs) == p


def test_parse_param_deep_nesting_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="HEM_PARAMETERS"):
        parse_param("[" * 100_000, where="HEM_PARAMETERS")


@given(st.text(max_size=120) | json_values.map(json.dumps))
@settings(max_examples=80)
def test_config_gives_a_mapping_or_a_value_error(text: str) -> None:
    try:
        cfg = Config(text)
    except ValueError:
        return
    assert isinstance(cfg, dict)


@given(params, st.data())
@settings(max_examples=40)
def test_environment_wins_over_parameters_and_empty_is_unset(
    monkeypatch_session: Any, p: dict[str, Any], data: st.DataObject
) -> None:
    monkeypatch = monkeypatch_session
    name = data.draw(env_name)
    monkeypatch.setenv("PARAMETERS", json.dumps(p))
    for key in (name, name.lower(), name.upper()):
        monkeypatch.delenv(key, raising=False)
    assert BaseConfig.parameters == p
    key = data.draw(st.sampled_from(sorted(p)) if p else st.just("absent-key"))
    expected = p.get(key) if p.get(key) not in (None, "") else "dflt"
    assert Context.get_parameters(key, "dflt") == expected
    value = data.draw(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
    monkeypatch.setenv(name, value)
    assert Context.get_parameters(name, "dflt") == value
    assert Context.get_parameters(name.lower(), "dflt") == value  # the upper-case spelling is looked up too
    monkeypatch.setenv(name, "")
    assert Context.get_parameters(name, "dflt") == "dflt"


@given(st.text(max_size=80) | json_values.map(json.dumps), st.booleans())
@settings(max_examples=60)
def test_algorithm_from_api(monkeypatch_session: Any, raw: str, named: bool) -> None:
    monkeypatch = monkeypatch_session
    monkeypatch.delenv("PARAMETERS", raising=False)
    monkeypatch.setenv("ADVALG_NAME", "IBT" if named else "")
    monkeypatch.setenv("ADVALG_PARAMETERS", raw)
    try:
        out = Context.get_algorithm_from_api("ADVALG", threshold=0.5)
    except ValueError as exc:
        assert named and "ADVALG_PARAMETERS" in str(exc)
        return
    if not named:
        assert out == {}
    else:
        assert out["method"] == "IBT" and out["param"]["threshold"] == 0.5


@given(json_scalars | st.sampled_from(["1", "0", "yes", "no", "TRUE", " off ", "1e400", "nan", "inf", "3.0"]))
def test_scalar_casts_give_a_value_or_a_value_error(value: Any) -> None:
    for fn in (lambda v: str_to_bool(v), lambda v: to_float(v, "p"), lambda v: to_int(v, "p")):
        try:
            out = fn(value)
        except ValueError:
            continue
        assert isinstance(out, bool | int | float)
    try:
        n = to_int(value, "p")
    except ValueError:
        return
    assert isinstance(n, int) and math.isfinite(n)


def test_huge_integer_parameter_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'p'"):
        to_float(10**400, "p")
    with pytest.raises(ValueError, match="'p'"):
        to_int(10**400, "p")


@pytest.fixture(scope="module")
def monkeypatch_session() -> Any:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
