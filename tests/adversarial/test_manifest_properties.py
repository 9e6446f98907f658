"""Property tests of manifest loading and validation (``api/yamlio.py``, the CRD models,
``manifests.load_files`` and ``sedna validate``).

Properties: any text is either loaded or refused with a ``yaml.YAMLError`` (never another
exception); every valid manifest round-trips through ``to_wire`` and YAML; a manifest with
one field replaced is either valid or refused with a :class:`ResourceValidationError` whose
errors name a path on the way to (or below) the field that was changed; ``sedna validate``
never crashes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sedna_operator.api import ResourceValidationError, parse_resource
from sedna_operator.api.yamlio import load_manifests
from sedna_operator.cli import app
from sedna_operator.manifests import load_files

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DIRS = [REPO / "examples", REPO.parent / "shared" / "conformance" / "sedna-crd-samples"]


def _samples() -> list[dict[str, Any]]:
    docs = []
    for base in SAMPLE_DIRS:
        for path in sorted(base.rglob("*.yaml")):
            for doc in load_manifests(path.read_text()):
                if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("sedna.io/"):
                    docs.append(doc)
    return docs


SAMPLES = _samples()
VALID = [d for d in SAMPLES if d.get("apiVersion") == "sedna.io/v1alpha1"]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
yamlish = st.text(alphabet=st.sampled_from(list("ab01:- \n\t[]{}&*!|>'\"#,.?%@`~\\") + ["\u00e9", "\x00", "\ufeff"]), max_size=200)


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_leaf_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_leaf_paths(v, (*prefix, i)))
    return out


def _dotted(path: tuple[Any, ...]) -> list[str]:
    return [f"[{p}]" if isinstance(p, int) else str(p) for p in path]


def _segments(error_path: str) -> list[str]:
    out: list[str] = []
    for part in error_path.split("."):
        while "[" in part:
            head, _, rest = part.partition("[")
            if head:
                out.append(head)
            idx, _, part = rest.partition("]")
            out.append(f"[{idx}]")
        if part:
            out.append(part)
    return out


def test_the_samples_are_found() -> None:
    assert len(VALID) >= 10, [d.get("kind") for d in SAMPLES]


@given(st.text(max_size=300) | yamlish)
def test_any_text_loads_or_is_a_yaml_error(text: str) -> None:
    try:
        docs = load_manifests(text)
    except yaml.YAMLError:
        return
    assert isinstance(docs, list)


@given(st.sampled_from(VALID))
@settings(max_examples=40)
def test_valid_manifests_round_trip(doc: dict[str, Any]) -> None:
    res = parse_resource(copy.deepcopy(doc))
    wire = res.to_wire()
    again = parse_resource(load_manifests(yaml.safe_dump(wire, sort_keys=False))[0])
    assert again.to_wire() == wire
    assert (again.kind, again.namespace, again.name) == (res.kind, res.namespace, res.name)


@given(st.sampled_from(VALID), st.data(), json_values)
@settings(max_examples=150)
def test_a_changed_field_is_accepted_or_named(doc: dict[str, Any], data: st.DataObject, value: Any) -> None:
    doc = copy.deepcopy(doc)
    path = data.draw(st.sampled_from(_leaf_paths(doc)))
    if path[0] in ("apiVersion", "kind"):
        path = ("spec", *path[1:])
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    try:
        res = parse_resource(doc, source="mutated.yaml")
    except ResourceValidationError as exc:
        assert exc.errors, exc
        changed = _dotted(path)
        named = [_segments(e.path) for e in exc.errors]
        # an error names the changed field, a field below it, or an object on its way
        assert any(seg[: len(changed)] == changed[: len(seg)] for seg in named), (changed, [e.path for e in exc.errors])
        assert "mutated.yaml" in str(exc)
        return
    wire = res.to_wire()
    assert parse_resource(yaml.safe_load(yaml.safe_dump(wire))).to_wire() == wire


@given(st.lists(json_values | st.sampled_from(VALID), min_size=1, max_size=3))
@settings(max_examples=30)
def test_sedna_validate_never_crashes(tmp_path_factory: pytest.TempPathFactory, docs: list[Any]) -> None:
    path = tmp_path_factory.mktemp("validate") / "m.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code in (0, 1), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@given(yamlish)
@settings(max_examples=40)
def test_load_files_collects_errors_never_raises(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("load") / "m.yaml"
    path.write_text(text)
    result = load_files([path])
    assert all(isinstance(e, str) and e for e in result.errors)


def test_deeply_nested_yaml_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 500 + "]" * 500 + "\n")
    result = load_files([path])
    assert len(result.errors) == 1 and "deep.yaml" in result.errors[0]
    cli = CliRunner().invoke(app, ["validate", str(path)])
    assert cli.exit_code == 1 and (cli.exception is None or isinstance(cli.exception, SystemExit))
