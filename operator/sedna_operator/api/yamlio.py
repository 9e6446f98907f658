"""Reading manifests the way kubectl does.

kubectl decodes YAML with Go's YAML library, which reads an unquoted ``02:00`` as the string
"02:00". PyYAML follows YAML 1.1 and reads it as the base-60 integer 120, which would turn
Sedna's own timer samples into numbers. The loader here keeps YAML 1.1's other rules but
drops the base-60 forms, so a manifest means the same thing here as under kubectl.

Aliases are YAML's way to repeat a node; nested ones multiply ("billion laughs": 448 bytes
that expand to 10^9 nodes once anything walks the document). Each document's expanded size is
counted on the node graph before it is constructed, and one over ``MAX_YAML_NODES`` (env
``SEDNA_MAX_YAML_NODES``, default 1,000,000; a large manifest has thousands) is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ManifestLoader",
    "AliasExpansionError",
    "MAX_YAML_NODES",
    "load_manifests",
    "iter_manifests",
    "iter_manifest_files",
]

MAX_YAML_NODES = int(os.environ.get("SEDNA_MAX_YAML_NODES", "1000000"))


class AliasExpansionError(yaml.YAMLError):
    """A document whose aliases expand beyond the node limit (or refer to themselves)."""


def expanded_size(node: yaml.Node, limit: int) -> int:
    """Nodes in ``node`` with every alias expanded, counted without expanding anything (each
    distinct node once, memoised); raises :class:`AliasExpansionError` past ``limit``."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise AliasExpansionError("a YAML alias refers to the node that contains it")
        open_nodes.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(child) for child in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        open_nodes.discard(key)
        if total > limit:
            raise AliasExpansionError(
                f"the document's aliases expand to more than {limit:,} nodes (an alias bomb?); "
                "raise SEDNA_MAX_YAML_NODES if it is meant"
            )
        sizes[key] = total
        return total

    return size(node)


class ManifestLoader(yaml.SafeLoader):
    """SafeLoader without sexagesimal integers and floats, and with a bound on alias expansion."""

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            expanded_size(node, MAX_YAML_NODES)
        return node


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
