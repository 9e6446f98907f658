"""Reading manifests the way kubectl does.

kubectl decodes YAML with Go's YAML library, which reads an unquoted ``02:00`` as the string
"02:00". PyYAML follows YAML 1.1 and reads it as the base-60 integer 120, which would turn
Sedna's own timer samples into numbers. The loader here keeps YAML 1.1's other rules but
drops the base-60 forms, so a manifest means the same thing here as under kubectl.

Aliases are YAML's way to repeat a node; nested ones multiply ("billion laughs": 448 bytes
that expand to 10^9 nodes once anything walks the document). Nodes are counted while composed and
each document's expanded size on the node graph, before anything is constructed; one over
``MAX_YAML_NODES`` (env ``SEDNA_MAX_YAML_NODES``, default 200,000, about 130 MB of PyYAML nodes;
a large manifest has thousands) is refused, as is one nested deeper than 100 levels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

# The counting core is shared with the model market (learnware.yaml), which must not import
# the operator; AliasExpansionError is re-exported so callers keep one exception type.
from sedna.common.yamlbound import AliasExpansionError, BoundedSafeLoader
from sedna.common.yamlbound import expanded_size as _expanded_size

__all__ = [
    "ManifestLoader",
    "AliasExpansionError",
    "MAX_YAML_NODES",
    "expanded_size",
    "load_manifests",
    "iter_manifests",
    "iter_manifest_files",
]

MAX_YAML_NODES = int(os.environ.get("SEDNA_MAX_YAML_NODES", "200000"))


def expanded_size(node: yaml.Node, limit: int) -> int:
    """Nodes in ``node`` with every alias expanded, counted without expanding anything; raises
    :class:`AliasExpansionError` past ``limit`` (the shared core in ``sedna.common.yamlbound``)."""
    return _expanded_size(node, limit, "SEDNA_MAX_YAML_NODES")


class ManifestLoader(BoundedSafeLoader):
    """SafeLoader without sexagesimal integers and floats, and with a bound on alias expansion."""

    limit_setting = "SEDNA_MAX_YAML_NODES"

    def compose_document(self) -> yaml.Node | None:
        # the module's MAX_YAML_NODES is read per document, so a changed value takes effect
        self.max_nodes = MAX_YAML_NODES
        return super().compose_document()


def _strip_sexagesimal() -> None:
    resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = []
        for tag, regexp in entries:
            if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
                pattern = regexp.pattern.replace("|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+", "")
                pattern = pattern.replace("|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*", "")
                regexp = re.compile(pattern, re.X)
            kept.append((tag, regexp))
        resolvers[first] = kept
    ManifestLoader.yaml_implicit_resolvers = resolvers


_strip_sexagesimal()


def iter_manifests(text: str) -> Iterator[Any]:
    """The non-empty documents of a YAML stream, one at a time (``kind: List`` flattened).

    A syntax error surfaces when the broken document is reached, after the good ones
    before it have been yielded.
    """
    for doc in yaml.load_all(text, Loader=ManifestLoader):  # noqa: S506 - SafeLoader subclass
        if doc is None:
            continue
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            yield from doc["items"]
        else:
            yield doc


def load_manifests(text: str) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML stream; ``kind: List`` objects are flattened."""
    return list(iter_manifests(text))


def iter_manifest_files(paths: list[Path]) -> Iterator[Path]:
    """Files named by ``paths``; directories give their ``*.yaml``/``*.yml``/``*.json`` files, sorted."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
        else:
            yield path
