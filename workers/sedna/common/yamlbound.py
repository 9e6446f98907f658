"""YAML loading with a bound on alias expansion, shared by the operator and the model market.

Aliases are YAML's way to repeat a node; nested ones multiply ("billion laughs": 448 bytes that
expand to 10^9 nodes once anything walks the document, 10 s and 178 MB under
``yaml.safe_load`` already). Nodes are counted as they are composed and each document's expanded
size on the node graph, before anything is constructed; a document over the loader's limit is
refused with :class:`AliasExpansionError`, one nested deeper than :data:`MAX_DEPTH` with
:class:`NestingTooDeepError` (both ``yaml.YAMLError``, so callers that report bad YAML report
these too).

It lives in the core SDK (``sedna.common``, PyYAML only) because both ``sedna_operator``
(manifests) and ``sedna_market`` (``learnware.yaml``) need it and neither may import the other.
Each caller picks its own limit: :func:`bounded_loader` makes a ``SafeLoader`` subclass with one.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = [
    "AliasExpansionError",
    "NestingTooDeepError",
    "BoundedSafeLoader",
    "MAX_DEPTH",
    "bounded_loader",
    "expanded_size",
    "safe_load_bounded",
]

#: deepest nesting of collections in one document: PyYAML composes recursively, so a few
#: hundred levels of ``[`` would end in RecursionError; real documents nest a dozen levels
MAX_DEPTH = 100


class AliasExpansionError(yaml.YAMLError):
    """A document with more nodes than the loader's limit, aliases counted expanded (or an
    alias that refers to the node containing it)."""


class NestingTooDeepError(yaml.YAMLError):
    """A document whose collections nest deeper than :data:`MAX_DEPTH`."""


def _too_many(limit: int, setting: str) -> AliasExpansionError:
    return AliasExpansionError(
        f"the document has more than {limit:,} nodes, aliases counted expanded (an alias bomb?); "
        f"raise {setting} if it is meant"
    )


def expanded_size(node: yaml.Node, limit: int, setting: str = "the node limit") -> int:
    """Nodes in ``node`` with every alias expanded, counted without expanding anything (each
    distinct node once, memoised, and without recursion: chains of aliases can be deeper than
    Python's stack); raises :class:`AliasExpansionError` past ``limit``.

    ``setting`` names what raises the limit, for the error message.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    # (node, children pushed?) frames of a post-order walk
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        key = id(current)
        if key in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        if not expanded:
            if key in open_nodes:
                raise AliasExpansionError("a YAML alias refers to the node that contains it")
            open_nodes.add(key)
            stack.append((current, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        open_nodes.discard(key)
        total = 1 + sum(sizes[id(child)] for child in children)
        if total > limit:
            raise _too_many(limit, setting)
        sizes[key] = total
    return sizes[id(node)]


class BoundedSafeLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a document with more than ``max_nodes`` nodes (aliases counted
    expanded) or nested deeper than ``max_depth``.

    Nodes are counted while they are composed, so a document of plain nodes is refused at the
    node that passes the limit, not after all of it is in memory; aliases are then counted
    expanded on the composed graph. Subclass it (or use :func:`bounded_loader`) to set
    ``max_nodes`` and ``limit_setting``; a limit read at call time (``max_nodes`` a property) is
    allowed too.
    """

    max_nodes: int = 200_000
    max_depth: int = MAX_DEPTH
    #: what the error message tells the user to raise
    limit_setting: str = "the node limit"

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._composed = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark
                raise NestingTooDeepError(
                    f"the document nests deeper than {self.max_depth} levels (at line {mark.line + 1})"
                )
            if not self.check_event(yaml.AliasEvent):
                self._composed += 1
                if self._composed > self.max_nodes:
                    raise _too_many(self.max_nodes, self.limit_setting)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        self._composed = 0
        node = super().compose_document()
        if node is not None:
            expanded_size(node, self.max_nodes, self.limit_setting)
        return node


def bounded_loader(max_nodes: int, limit_setting: str = "the node limit") -> type[BoundedSafeLoader]:
    """A ``SafeLoader`` class bounded to ``max_nodes`` expanded nodes per document."""
    return type(
        f"BoundedSafeLoader{max_nodes}",
        (BoundedSafeLoader,),
        {"max_nodes": max_nodes, "limit_setting": limit_setting},
    )


def safe_load_bounded(text: str | bytes, max_nodes: int, limit_setting: str = "the node limit") -> Any:
    """``yaml.safe_load`` of one document, refusing more than ``max_nodes`` expanded nodes."""
    return yaml.load(text, Loader=bounded_loader(max_nodes, limit_setting))  # noqa: S506 - SafeLoader subclass
