"""Property tests of the market's wire models and package parsing (``schemas.py``,
``package.py``: ``learnware.yaml``, the RKME and semantic spec files), and of the submit and
search endpoints that use them.

Properties: any input is a model or a ``ValidationError`` / ``PackageError`` / ``ValueError``
naming the field; specs round-trip through their JSON form; the spec-point limit of
docs/limits.md holds at the boundary; the endpoints answer 2xx/4xx, never 5xx.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError

from sedna_market.package import LearnwareYaml, PackageError
from sedna_market.schemas import MAX_SPEC_POINTS, SearchQuery, StatSpecModel
from sedna_market.spec.rkme import RKMETableSpec
from sedna_market.spec.semantic import SemanticSpec

from .market_support import market_app, package_files, request, semantic_dict, submit

# numbers JSON can carry that a float holds (the overflowing ones have their own test below)
json_scalars = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
finite = st.floats(-1e6, 1e6, allow_nan=False)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = market_app(tmp_path_factory.mktemp("market"))
    assert submit(app, package_files()).status_code == 202  # one model, so searches do work
    return app


@given(st.dictionaries(st.sampled_from(["semantic_spec", "stat_spec", "max_search_num", "search_method", "semantic_mode", "usable_only", "other"]), json_values, max_size=4))
def test_search_query_validates_or_names_the_field(body: dict[str, Any]) -> None:
    try:
        q = SearchQuery.model_validate(body)
    except ValidationError as exc:
        assert all(err["loc"] and err["loc"][0] in body for err in exc.errors()), exc
        return
    assert SearchQuery.model_validate(q.model_dump()) == q


@pytest.mark.parametrize("points", [MAX_SPEC_POINTS, MAX_SPEC_POINTS + 1])
def test_spec_points_limit(points: int) -> None:
    body = {"z": [[0.0]] * points, "beta": [1.0 / points] * points}
    if points <= MAX_SPEC_POINTS:
        assert len(StatSpecModel.model_validate(body).z) == points
    else:
        with pytest.raises(ValidationError) as exc:
            StatSpecModel.model_validate(body)
        assert {err["loc"][0] for err in exc.value.errors()} == {"z", "beta"}


@given(json_values)
def test_learnware_yaml_parses_or_names_the_field(cfg: Any) -> None:
    try:
        parsed = LearnwareYaml.parse(cfg)
    except PackageError as exc:
        assert "learnware.yaml" in str(exc)
        return
    assert LearnwareYaml.parse(parsed.model_dump()) == parsed


@given(st.sampled_from(["name", "model", "stat_specifications"]), json_values.filter(lambda v: v is not None))
def test_a_wrong_learnware_yaml_field_is_named(field: str, value: Any) -> None:
    cfg = {"model": {"class_name": "Model", "kwargs": {}}, field: value}
    try:
        LearnwareYaml.parse(cfg)
    except PackageError as exc:
        assert field in str(exc), str(exc)


@given(
    st.integers(1, 12).flatmap(lambda k: st.tuples(arrays(np.float64, (k, 3), elements=finite), arrays(np.float64, k, elements=finite))),
    st.floats(1e-4, 10),
    st.integers(0, 10**6),
)
@settings(max_examples=40)
def test_rkme_spec_round_trips(zb: tuple[np.ndarray, np.ndarray], gamma: float, n: int) -> None:
    z, beta = zb
    spec = RKMETableSpec(z, beta, gamma, n)
    again = RKMETableSpec.from_json(spec.to_json())
    assert np.array_equal(again.z, spec.z) and np.array_equal(again.beta, spec.beta)
    assert (again.gamma, again.num_points) == (gamma, n)
    assert StatSpecModel.model_validate(json.loads(spec.to_json())).gamma == gamma


@given(st.dictionaries(st.sampled_from(["z", "beta", "gamma", "num_points", "type"]), json_values, max_size=5))
def test_rkme_from_dict_raises_only_value_or_type_errors(data: dict[str, Any]) -> None:
    try:
        RKMETableSpec.from_dict(data)
    except (ValueError, TypeError):
        pass


@given(st.text(max_size=30), st.text(max_size=60), st.integers(1, 1000))
@settings(max_examples=40)
def test_semantic_spec_round_trips(name: str, description: str, dim: int) -> None:
    d = semantic_dict()
    d["Name"]["Values"] = name
    d["Description"]["Values"] = description
    d["Input"]["Dimension"] = dim
    spec = SemanticSpec.from_dict(d)
    assert SemanticSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@given(st.dictionaries(st.sampled_from(["Data", "Task", "Name", "Input", "Output", "Scenario"]), json_values, max_size=3))
def test_semantic_from_dict_raises_only_value_errors(data: dict[str, Any]) -> None:
    try:
        SemanticSpec.from_dict(data)
    except ValueError:
        pass


@given(
    z=st.lists(st.lists(json_scalars, max_size=5) | json_scalars, max_size=6),
    beta=st.lists(st.floats(-10, 10) | st.integers(-5, 5), max_size=6),
    gamma=st.floats(-1, 1e300) | st.integers(-3, 3),
    extra=st.dictionaries(st.sampled_from(["max_search_num", "search_method", "semantic_mode", "usable_only"]), json_values, max_size=2),
)
@settings(max_examples=60)
def test_search_endpoint_never_5xx(app: Any, z: list[Any], beta: list[Any], gamma: Any, extra: dict[str, Any]) -> None:
    body = {"stat_spec": {"z": z, "beta": beta, "gamma": gamma}, **extra}
    r = request(app, "POST", "/api/v1/search", json=body)
    assert r.status_code in (200, 422), (r.status_code, r.text)


yamlish = st.text(alphabet=st.sampled_from(list("ab01:- \n[]{}&*!|'\"#,.")), max_size=120)


@given(st.sampled_from(["learnware.yaml", "stat_spec.json", "semantic_specification.json", "__init__.py"]), yamlish | json_values.map(json.dumps))
@settings(max_examples=60)
def test_submit_with_one_broken_file_is_422_never_5xx(app: Any, name: str, content: str) -> None:
    files = package_files()
    files[name] = content
    r = submit(app, files)
    assert r.status_code in (202, 422), (r.status_code, r.text)


@pytest.mark.parametrize("name", ["stat_spec.json", "semantic_specification.json"])
@pytest.mark.parametrize("content", ["0", "[]", "null", '"x"'])
def test_a_spec_file_that_is_not_an_object_is_422(app: Any, name: str, content: str) -> None:
    # was a 500: AttributeError in RKMETableSpec.from_dict / SemanticSpec.from_dict
    files = package_files()
    files[name] = content
    r = submit(app, files)
    assert r.status_code == 422, (r.status_code, r.text)
    assert name in r.json()["detail"] and "must be a JSON object" in r.json()["detail"], r.text


DEEP = "[" * 50_000


@pytest.mark.parametrize("where", ["learnware.yaml", "semantic_spec form field", "stat_spec.json", "semantic_specification.json"])
def test_deeply_nested_submission_is_422(app: Any, where: str) -> None:
    # the three JSON ones were a 500: RecursionError escaped json.loads
    files = package_files()
    semantic = None
    if where == "semantic_spec form field":
        semantic = DEEP
    elif where == "learnware.yaml":
        files[where] = "a: " + "[" * 500
    else:
        files[where] = DEEP
    r = submit(app, files, semantic)
    assert r.status_code == 422, (r.status_code, r.text)
    assert where.split()[0] in r.json()["detail"] and "nest" in r.json()["detail"], r.text


def _spec_with(**changes: Any) -> str:
    data = json.loads(package_files()["stat_spec.json"])
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    "case",
    ["search z holding the integer 10**400", "stat_spec.json num_points Infinity", "stat_spec.json gamma 10**400"],
)
def test_numbers_too_large_for_a_float_are_422(app: Any, case: str) -> None:
    # each was a 500: OverflowError from float()/int()/np.asarray
    if case.startswith("search"):
        r = request(app, "POST", "/api/v1/search", json={"stat_spec": {"z": [[10**400, 0, 0, 0]], "beta": [1.0]}})
        assert r.status_code == 422, (r.status_code, r.text)
        [err] = r.json()["detail"]
        assert err["loc"][-2:] == ["stat_spec", "z"] and "too large for a 64-bit float" in err["msg"], r.text
        return
    files = package_files()
    files["stat_spec.json"] = _spec_with(num_points=float("inf")) if "num_points" in case else _spec_with(gamma=10**400)
    r = submit(app, files)
    assert r.status_code == 422, (r.status_code, r.text)
    assert "stat_spec.json" in r.json()["detail"], r.text
    assert ("Infinity" if "num_points" in case else "too large for a 64-bit float") in r.json()["detail"], r.text


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("gamma", 10**400, "too large for a 64-bit float"),
        ("gamma", "0.1", "must be a number"),
        ("num_points", 2**64, "out of range"),
        ("num_points", -1, "out of range"),
        ("num_points", 2.5, "whole number"),
        ("z", [[10**400, 0, 0, 0]], "too large for a 64-bit float"),
        ("beta", [float("nan")], "NaN or Inf"),
        ("type", ["x"], "unsupported statistical spec type"),
    ],
)
def test_rkme_from_dict_names_the_number_it_refuses(field: str, value: Any, reason: str) -> None:
    data = json.loads(package_files()["stat_spec.json"])
    data[field] = value
    with pytest.raises(ValueError, match=reason) as exc:
        RKMETableSpec.from_dict(data)
    assert field in str(exc.value), str(exc.value)


@pytest.mark.parametrize("value", [0, [], None, "x"])
def test_spec_from_dict_refuses_a_non_object(value: Any) -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        RKMETableSpec.from_dict(value)
    with pytest.raises(ValueError, match="must be a JSON object"):
        SemanticSpec.from_dict(value)


@pytest.mark.parametrize("body", [b'{"stat_spec": {"z": [[NaN, 0, 0, 0]], "beta": [1]}}', b'{"stat_spec": {"z": [[0, 0, 0, 0]], "beta": [Infinity]}}'])
def test_a_search_holding_nan_is_422_with_the_number_as_text(app: Any, body: bytes) -> None:
    # Python's JSON reader takes NaN/Infinity; FastAPI's 422 echoed them and failed to encode (500)
    r = request(app, "POST", "/api/v1/search", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, (r.status_code, r.text)
    assert "NaN or Inf" in r.text or "finite" in r.text, r.text


def test_a_search_body_nested_too_deeply_is_a_4xx(app: Any) -> None:
    r = request(app, "POST", "/api/v1/search", content=b'{"semantic_spec": ' + DEEP.encode() + b"}", headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), (r.status_code, r.text)
    assert isinstance(r.json()["detail"], str | list), r.text


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (DEEP, "nested too deeply"),
        ("[]", "must be a JSON object"),
        ('{"center": [1e400], "scale": [1], "spec": {}, "threshold": 1}', "too large for a 64-bit float"),
        ('{"center": [0], "scale": [1], "spec": {"z": [[0]], "beta": [1]}, "threshold": 1, "folds": Infinity}', "Infinity"),
    ],
)
def test_a_broken_unseen_profile_is_a_value_error_naming_it(profile: str, reason: str) -> None:
    from sedna_market.unseen import PROFILE_FILE, UnseenProfile, profile_from_package

    from .market_support import make_zip

    with pytest.raises(ValueError, match=reason) as exc:
        UnseenProfile.from_json(profile)
    assert PROFILE_FILE in str(exc.value) or "too large" in str(exc.value), str(exc.value)
    assert profile_from_package(make_zip({**package_files(), PROFILE_FILE: profile})) is None


def test_support_package_is_accepted(app: Any, tmp_path: Path) -> None:
    # the baseline of the broken-file properties: the unbroken package is stored
    r = submit(app, package_files(seed=1))
    assert r.status_code == 202, r.text
    assert yaml.safe_load(package_files()["learnware.yaml"])["model"]["class_name"] == "Model"
