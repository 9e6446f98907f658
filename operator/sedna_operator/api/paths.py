"""Relative paths in manifests, resolved the same way by every reader.

Sedna takes a path without a scheme in ``Dataset.spec.url``, ``Model.spec.url`` and the IL/LL
``spec.outputDir`` as a host path, and a relative one fails when it is mounted. Here a relative
path means "under the runtime's base directory", so one manifest runs unchanged everywhere:

- ``sedna run``: the manifest file's directory;
- a cluster: ``<root>/<namespace>`` on the node (``root`` is the chart's ``relativePathRoot``,
  by default ``/var/lib/sedna/workspace``), the same for the operator and every LC.

Remote URLs (s3, http, https, obs) and absolute paths are left as they are.
"""

from __future__ import annotations

import posixpath
from typing import Any

__all__ = ["PATH_FIELDS", "DEFAULT_RELATIVE_PATH_ROOT", "is_relative_path", "namespace_base", "resolve_relative_paths"]

DEFAULT_RELATIVE_PATH_ROOT = "/var/lib/sedna/workspace"
PATH_FIELDS: dict[str, tuple[str, ...]] = {
    "Dataset": ("url",),
    "Model": ("url",),
    "IncrementalLearningJob": ("outputDir",),
    "LifelongLearningJob": ("outputDir",),
}
_REMOTE = ("s3://", "http://", "https://", "obs://", "file://")


def is_relative_path(value: object) -> bool:
    """A non-empty local path that does not start at ``/``."""
    return isinstance(value, str) and bool(value) and not value.startswith("/") and not value.lower().startswith(_REMOTE)


def namespace_base(root: str, namespace: str) -> str:
    """Where relative paths of ``namespace`` live on a cluster's nodes."""
    return posixpath.join(root, namespace or "default")


def resolve_relative_paths(obj: dict[str, Any], base: str) -> dict[str, Any]:
    """A copy of ``obj`` (a manifest of any kind) whose relative paths are absolute under ``base``.

    A path that climbs out of ``base`` (``../x``) is resolved all the same: absolute paths are
    allowed anyway, so ``base`` is a convenience, not a boundary.
    """
    fields = PATH_FIELDS.get(str(obj.get("kind")), ())
    spec = obj.get("spec")
    if not fields or not isinstance(spec, dict) or not any(is_relative_path(spec.get(k)) for k in fields):
        return obj
    spec = dict(spec)
    for key in fields:
        if is_relative_path(spec.get(key)):
            trailing = "/" if spec[key].endswith("/") else ""
            spec[key] = posixpath.normpath(posixpath.join(base, spec[key])) + trailing
    return {**obj, "spec": spec}
