"""Relative manifest paths: one resolver for `sedna run` (the manifest's directory) and a
cluster (<relativePathRoot>/<namespace> on the nodes)."""

from __future__ import annotations

import pytest

from sedna_operator.api.paths import is_relative_path, namespace_base, resolve_relative_paths


@pytest.mark.parametrize(
    ("value", "relative"),
    [
        ("./data/a.txt", True),
        ("data/a.txt", True),
        ("../shared/a.txt", True),
        ("/var/lib/sedna/a.txt", False),
        ("s3://bucket/a.txt", False),
        ("HTTPS://host/a.txt", False),
        ("file:///tmp/a.txt", False),
        ("", False),
        (None, False),
    ],
)
def test_is_relative_path(value: object, relative: bool) -> None:
    assert is_relative_path(value) is relative


def test_resolves_each_kinds_path_field_only() -> None:
    base = namespace_base("/var/lib/sedna/workspace", "team-a")
    assert base == "/var/lib/sedna/workspace/team-a"
    ds = {"kind": "Dataset", "metadata": {"name": "d"}, "spec": {"url": "./data/train.txt", "format": "txt"}}
    out = resolve_relative_paths(ds, base)
    assert out["spec"] == {"url": "/var/lib/sedna/workspace/team-a/data/train.txt", "format": "txt"}
    assert ds["spec"]["url"] == "./data/train.txt"  # the input is not changed
    il = {"kind": "IncrementalLearningJob", "spec": {"outputDir": "output/"}}
    assert resolve_relative_paths(il, base)["spec"]["outputDir"] == "/var/lib/sedna/workspace/team-a/output/"
    # JI has no path field; remote and absolute URLs stay as written.
    ji = {"kind": "JointInferenceService", "spec": {"url": "./x"}}
    assert resolve_relative_paths(ji, base) is ji
    for url in ("s3://b/m.pkl", "/models/m.pkl"):
        model = {"kind": "Model", "spec": {"url": url}}
        assert resolve_relative_paths(model, base)["spec"]["url"] == url


def test_climbing_out_of_the_base_is_normalised() -> None:
    out = resolve_relative_paths({"kind": "Model", "spec": {"url": "../shared/m.json"}}, "/w/ns")
    assert out["spec"]["url"] == "/w/shared/m.json"


def test_empty_namespace_is_default() -> None:
    assert namespace_base("/root", "") == "/root/default"
