"""Hostile or broken manifests get a one-line error, quickly, and nothing is applied (issue 12,
items 7 and 10): alias bombs, non-UTF-8 bytes, a non-string apiVersion, a huge name, and
two objects with one name."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sedna_operator.api.yamlio import AliasExpansionError, expanded_size, load_manifests
from sedna_operator.cli import app
from sedna_operator.manifests import load_files

runner = CliRunner()

DATASET = "apiVersion: sedna.io/v1alpha1\nkind: Dataset\nmetadata:\n  name: {name}\nspec:\n  url: ./{url}\n  format: txt\n  nodeName: n\n"


def _bomb(levels: int) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    body = "\n".join("  " + line for line in lines)
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n{body}\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(9))  # 9^9 = 387 million nodes once expanded, 600 bytes written
    started = time.monotonic()
    result = load_files([path])
    assert time.monotonic() - started < 5
    assert result.resources == [] and result.foreign == []
    assert len(result.errors) == 1 and "more than 200,000 nodes, aliases counted expanded" in result.errors[0]
    # ordinary aliases (a shared template) are fine, and counted as expanded
    assert load_manifests("a: &t {x: 1}\nb: *t\nc: *t\n") == [{"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1}}]
    node = yaml.compose(_bomb(3), Loader=yaml.SafeLoader)
    assert expanded_size(node, 10_000) > 9**3
    with pytest.raises(AliasExpansionError):
        expanded_size(node, 100)


def test_bad_bytes_types_and_sizes_get_one_line_errors(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(DATASET.format(name="caf\xe9", url="x.txt").encode("latin-1"))
    number = tmp_path / "number.yaml"
    number.write_text(DATASET.format(name="a", url="x.txt").replace("apiVersion: sedna.io/v1alpha1", "apiVersion: 5"))
    huge = tmp_path / "huge.yaml"
    huge.write_text(DATASET.format(name="a" * 100_000, url="x.txt"))
    result = load_files([latin, number, huge])
    assert result.resources == []
    latin_error, number_error, huge_error = result.errors
    assert "latin.yaml: not UTF-8 text (byte 0xe9 at offset" in latin_error
    assert "apiVersion: expected 'sedna.io/v1alpha1', got 5" in number_error
    assert "(100000 characters)" in huge_error and len(huge_error) < 1000
    cli = runner.invoke(app, ["validate", str(huge)], env={"COLUMNS": "120"})
    assert cli.exit_code == 1 and len(cli.output) < 2000


def test_two_objects_with_one_name(tmp_path: Path) -> None:
    # in one file: an error (the second would silently replace the first)
    both = tmp_path / "both.yaml"
    both.write_text(DATASET.format(name="d", url="x.txt") + "---\n" + DATASET.format(name="d", url="y.txt"))
    result = load_files([both])
    assert result.errors == [f"{both}: Dataset default/d is defined twice in this file: rename one or drop one"]
    # in two files: a warning, the later applies (as kubectl; Sedna's own samples do this)
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(DATASET.format(name="e", url="x.txt"))
    second.write_text(DATASET.format(name="e", url="y.txt"))
    result = load_files([first, second])
    assert result.errors == []
    assert result.warnings == [f"Dataset default/e is defined in {first} and again in {second}; the last one applies"]


def test_markup_in_a_foreign_kind_is_printed_as_text(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("apiVersion: v1\nkind: '[bold red]Boom'\nmetadata: {name: x}\n")
    result = runner.invoke(app, ["validate", str(path)], env={"COLUMNS": "200"})
    assert "skipped [bold red]Boom v1" in result.output


def test_files_without_an_api_version_beside_the_manifests_are_not_resources(tmp_path: Path) -> None:
    # an example directory holds model JSON files next to its manifest
    (tmp_path / "model.json").write_text('{"layers": [[1, 2], [3]]}')
    (tmp_path / "ds.yaml").write_text(DATASET.format(name="d", url="x.txt"))
    result = load_files([tmp_path])
    assert result.errors == [] and [r.name for _, r in result.resources] == ["d"]
    assert [doc for _, doc in result.foreign] == [{"layers": [[1, 2], [3]]}]
