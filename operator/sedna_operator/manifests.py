"""Loading and validating manifest files (pure apart from reading the files)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .api import KINDS, Resource, ResourceValidationError, parse_resource
from .api.yamlio import iter_manifest_files, iter_manifests

__all__ = ["LoadResult", "load_files"]


@dataclass
class LoadResult:
    resources: list[tuple[Path, Resource[Any, Any]]]
    errors: list[str]
    # Objects of other API groups (Secrets, ConfigMaps...) that a manifest may carry along.
    foreign: list[tuple[Path, dict[str, Any]]]
    warnings: list[str] = field(default_factory=list)
    #: loading was cut short by ``should_stop`` (the result is partial: apply none of it)
    stopped: bool = False


def load_files(
    paths: list[Path],
    *,
    max_objects: int | None = None,
    limit_name: str = "",
    should_stop: Callable[[], bool] | None = None,
) -> LoadResult:
    """Parse every sedna.io object in ``paths``; collect, rather than raise, every error.

    Two objects of one kind, namespace and name in one file are an error naming both: applied
    in turn, the second would silently replace the first. In two files it is a warning (as
    kubectl, the later file wins; Sedna's own samples define one job in two API versions).

    ``max_objects`` bounds the objects (sedna.io resources and other documents) of all files
    together: the document past it ends loading with one error naming ``limit_name``, so an
    oversized input costs no more than the limit. ``should_stop`` is asked before each
    document (a ``sedna run`` told to stop while it parses thousands of them stops at once).
    """
    result = LoadResult([], [], [])
    for path in iter_manifest_files(paths):
        if should_stop is not None and should_stop():
            result.stopped = True
            return result
        text = _read(path, result.errors)
        if text is None:
            continue
        for doc in _documents(path, text, result.errors):
            if should_stop is not None and should_stop():
                result.stopped = True
                return result
            if max_objects is not None and len(result.resources) + len(result.foreign) >= max_objects:
                result.errors.append(
                    f"more than {max_objects} objects to apply, the limit of one run ({limit_name}): "
                    "split the manifests into several runs or raise the limit"
                )
                return result
            api_version = doc.get("apiVersion") if isinstance(doc, dict) else None
            # no apiVersion (a model's JSON file beside the manifests) or another group's: not ours
            if isinstance(doc, dict) and (
                api_version is None or (isinstance(api_version, str) and api_version.split("/")[0] != "sedna.io")
            ):
                result.foreign.append((path, doc))
                continue
            try:
                result.resources.append((path, parse_resource(doc, source=str(path))))
            except ResourceValidationError as exc:
                result.errors.append(str(exc))
    _check_duplicates(result)
    return result


def _read(path: Path, errors: list[str]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        errors.append(f"{path}: cannot read: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        errors.append(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8")
    return None


def _check_duplicates(result: LoadResult) -> None:
    seen: dict[tuple[str, str, str], Path] = {}
    for path, res in result.resources:
        key = (res.kind, res.namespace, res.name)
        if key not in seen:
            seen[key] = path
        elif seen[key] == path:
            result.errors.append(
                f"{path}: {res.kind} {res.namespace}/{res.name} is defined twice in this file: rename one or drop one"
            )
        else:
            result.warnings.append(
                f"{res.kind} {res.namespace}/{res.name} is defined in {seen[key]} and again in {path}; the last one applies"
            )
            seen[key] = path


def _documents(path: Path, text: str, errors: list[str]) -> Iterator[Any]:
    """Documents of one file; a YAML error is recorded and ends the file, keeping those before it."""
    try:
        yield from iter_manifests(text)
    except yaml.YAMLError as exc:
        errors.append(f"{path}: not valid YAML: {exc}")


def summary_row(resource: Resource[Any, Any]) -> dict[str, str]:
    """What ``sedna validate`` prints for one resource: its identity and where its workers go."""
    info = KINDS[resource.kind]
    return {
        "kind": resource.kind,
        "short": ",".join(info.short_names) or info.plural,
        "name": resource.name,
        "namespace": resource.namespace,
        "workers": ", ".join(_workers(resource)),
    }


def _workers(resource: Resource[Any, Any]) -> list[str]:
    spec = resource.spec
    kind = resource.kind
    if kind == "JointInferenceService":
        return [f"edge@{spec.edge_worker.template.spec.node_name or '*'}", f"cloud@{spec.cloud_worker.template.spec.node_name or '*'}"]
    if kind == "FederatedLearningJob":
        out = [f"aggregation@{spec.aggregation_worker.template.spec.node_name or '*'}"]
        out += [f"train[{w.dataset.name}]@{w.template.spec.node_name or '*'}" for w in spec.training_workers]
        return out
    if kind in ("IncrementalLearningJob", "LifelongLearningJob"):
        return [
            f"train@{spec.train_spec.template.spec.node_name or '*'}",
            f"eval@{spec.eval_spec.template.spec.node_name or '*'}",
            f"inference@{spec.deploy_spec.template.spec.node_name or '*'}",
        ]
    if kind == "Dataset":
        return [f"lc@{spec.node_name}"]
    return []
