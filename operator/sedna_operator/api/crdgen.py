"""CustomResourceDefinition manifests generated from the pydantic models.

Pydantic's JSON schema is close to what the API server wants but not structural: it uses
``$ref``, ``anyOf`` for optionals, ``additionalProperties: true`` for open objects and puts
defaults everywhere. :func:`structural` rewrites it into a structural OpenAPI v3 schema:
references inlined, nullable unions collapsed, open objects marked
``x-kubernetes-preserve-unknown-fields`` and only the defaults Sedna itself declares kept
(fields marked ``crdDefault``), so the server never invents values the user did not write.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from .resources import CATEGORY, GROUP, KINDS, VERSION, KindInfo

__all__ = ["structural", "crd_for", "all_crds", "render_crd", "write_crds", "crd_filename"]

_KEEP = {
    "type", "format", "description", "enum", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "required",
    "x-kubernetes-validations", "x-kubernetes-preserve-unknown-fields",
}  # fmt: skip


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **extra}
    return node


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn one pydantic JSON-schema node into a structural OpenAPI v3 node."""
    defs = defs if defs is not None else schema.get("$defs", {})
    node = _resolve(copy.deepcopy(schema), defs)

    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express a union of {len(branches)} types structurally: {branches}")
        inner = _resolve(branches[0], defs)
        node = {**inner, **{k: v for k, v in node.items() if k not in ("default",)}}
        node.pop("default", None)
        if "default" in inner and "crdDefault" not in node:
            node.pop("default", None)

    out: dict[str, Any] = {k: v for k, v in node.items() if k in _KEEP}
    if "crdDefault" in node:
        out["default"] = node["crdDefault"]
    if "const" in node:
        out["enum"] = [node["const"]]

    typ = node.get("type")
    if typ is None and ("properties" in node or "additionalProperties" in node):
        typ = "object"
    if typ is None:
        # Any-typed value (e.g. list[dict[str, Any]] items): keep whatever users write.
        return {"x-kubernetes-preserve-unknown-fields": True, **({"description": out["description"]} if "description" in out else {})}
    out["type"] = typ

    if typ == "object":
        props = node.get("properties", {})
        if props:
            out["properties"] = {name: structural(sub, defs) for name, sub in props.items()}
        addl = node.get("additionalProperties")
        if addl is True or (addl is None and not props and "patternProperties" not in node):
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(addl, dict):
            if props:
                out["x-kubernetes-preserve-unknown-fields"] = True
            else:
                out["additionalProperties"] = structural(addl, defs)
        if not out.get("required"):
            out.pop("required", None)
    elif typ == "array":
        out["items"] = structural(node.get("items", {}), defs)
    return out


def _version_schema(info: KindInfo) -> dict[str, Any]:
    schema = info.model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.get("$defs", {})
    props = schema["properties"]
    spec = structural(props["spec"], defs)
    status = structural(props["status"], defs)
    required = ["spec"] + (["metadata"] if info.metadata_required else [])
    return {
        "type": "object",
        "description": (info.model.__doc__ or info.kind).strip().splitlines()[0],
        "required": required,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def crd_for(info: KindInfo) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CRD of one kind."""
    columns = [
        {
            "name": c.name,
            "type": c.type,
            "jsonPath": c.json_path,
            **({"description": c.description} if c.description else {}),
            **({"priority": c.priority} if c.priority else {}),
        }
        for c in info.columns
    ]
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
        "categories": [CATEGORY],
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "sedna"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": names,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": _ordered(_version_schema(info))},
                }
            ],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd_for(info) for info in KINDS.values()]


def crd_filename(crd: dict[str, Any]) -> str:
    return f"{GROUP}_{crd['spec']['names']['plural']}.yaml"


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated sub-schemas out in full: anchors would be legal but unreadable."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_ORDER = ("description", "type", "format", "enum", "default", "required")


def _ordered(node: Any) -> Any:
    if isinstance(node, dict):
        keys = sorted(node, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER)))
        return {k: _ordered(node[k]) for k in keys}
    if isinstance(node, list):
        return [_ordered(v) for v in node]
    return node


def render_crd(crd: dict[str, Any]) -> str:
    header = "# Generated by `sedna crds --write` from sedna_operator.api; do not edit.\n"
    return header + yaml.dump(crd, Dumper=_NoAliasDumper, sort_keys=False, width=120)


def write_crds(*directories: Path) -> list[Path]:
    """Write every CRD into each directory; return the files written."""
    written = []
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        for crd in all_crds():
            path = directory / crd_filename(crd)
            path.write_text(render_crd(crd), encoding="utf-8")
            written.append(path)
    return written
