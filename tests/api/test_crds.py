"""Tier 1: the committed CRDs are exactly what the models generate, and they are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sedna_operator.api import KINDS
from sedna_operator.api.crdgen import all_crds, crd_filename, render_crd

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("directory", ["crds", "charts/sedna/crds"])
def test_committed_crds_match_generator(directory: str) -> None:
    for crd in all_crds():
        path = REPO / directory / crd_filename(crd)
        assert path.exists(), f"{path} missing: run `sedna crds --write`"
        assert path.read_text() == render_crd(crd), f"{path} is stale: run `sedna crds --write`"
    files = sorted(p.name for p in (REPO / directory).glob("*.yaml"))
    assert files == sorted(crd_filename(c) for c in all_crds())


def _walk(node: Any, path: str = "") -> list[str]:
    """Structural-schema violations: nodes without a type, refs, or unions."""
    problems = []
    if isinstance(node, dict):
        for bad in ("$ref", "anyOf", "oneOf", "allOf", "$defs", "title"):
            if bad in node:
                problems.append(f"{path}: has {bad}")
        if "properties" in node or "items" in node:
            if "type" not in node:
                problems.append(f"{path}: no type")
        for key, sub in node.get("properties", {}).items():
            if "type" not in sub and not sub.get("x-kubernetes-preserve-unknown-fields"):
                problems.append(f"{path}.{key}: no type")
            problems += _walk(sub, f"{path}.{key}")
        if "items" in node:
            problems += _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            problems += _walk(node["additionalProperties"], f"{path}{{}}")
    return problems


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["spec"]["names"]["kind"])
def test_crd_shape(crd: dict[str, Any]) -> None:
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert _walk(schema) == []
    assert version["subresources"] == {"status": {}}
    assert "sedna" in crd["spec"]["names"]["categories"]
    kind = crd["spec"]["names"]["kind"]
    assert tuple(crd["spec"]["names"].get("shortNames", ())) == KINDS[kind].short_names
    assert [c["name"] for c in version["additionalPrinterColumns"]][-1] == "Age"
    # Status fields the control plane writes must be in the schema, or the server prunes them.
    status_props = schema["properties"]["status"]["properties"]
    if kind not in ("Dataset", "Model"):
        for field in ("conditions", "observedGeneration", "reports", "controllerState"):
            assert field in status_props, (kind, field)
        assert status_props["reports"]["additionalProperties"]["x-kubernetes-preserve-unknown-fields"] is True


def test_only_sedna_defaults_are_kept() -> None:
    defaults = []

    def collect(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "default" in node:
                defaults.append((path, node["default"]))
            for k, v in node.items():
                collect(v, f"{path}.{k}")
        elif isinstance(node, list):
            for v in node:
                collect(v, path)

    for crd in all_crds():
        collect(crd["spec"]["versions"][0]["schema"], crd["spec"]["names"]["kind"])
    assert len(defaults) == 1 and defaults[0][1] == 60 and "pollPeriodSeconds" in defaults[0][0]


def test_pod_templates_keep_unknown_pod_fields() -> None:
    crd = yaml.safe_load((REPO / "crds" / "sedna.io_jointinferenceservices.yaml").read_text())
    tmpl = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["edgeWorker"]["properties"]["template"]
    assert tmpl["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"] is True
    assert tmpl["properties"]["spec"]["properties"]["containers"]["items"]["required"] == ["name", "image"]
