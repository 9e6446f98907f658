"""The learnware package format: zip -> directory -> (model config, specs), and a zip builder.

A package is a zip holding ``learnware.yaml`` (model class and stat-spec files), the model
module (``__init__.py`` by default), the statistical spec JSON (``stat_spec.json`` by default) and
optionally ``semantic_specification.json``.  Extraction refuses path traversal, links and zip bombs.
"""

from __future__ import annotations

import io
import json
import pickle
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError

from sedna.common.yamlbound import AliasExpansionError, safe_load_bounded

from .spec.parsing import SpecDataError, load_json_object
from .spec.rkme import RKMETableSpec
from .spec.semantic import SemanticSpec
from .spec.stat_types import STAT_SPEC_TYPES

#: defaults of the per-package bounds; the service takes them from ``MarketSettings``
#: (``max_package_bytes``, ``max_package_files``, ``max_yaml_nodes``)
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_FILES = 10_000
#: learnware.yaml names a class, a module and a spec file: a few dozen nodes. 10,000 leaves room
#: for big ``kwargs`` while an alias bomb (10^9 nodes from 448 bytes) is refused before it is built.
MAX_YAML_NODES = 10_000
YAML_FILE = "learnware.yaml"
SEMANTIC_FILE = "semantic_specification.json"

T = TypeVar("T")


class PackageError(ValueError):
    """The uploaded package is malformed; the message says what to fix."""


class PackageTooLarge(PackageError):
    """The package is over a size bound (unpacked bytes, file count): HTTP 413, not 422."""


class ModelConfig(BaseModel):
    """``model`` section of ``learnware.yaml``."""

    class_name: str = "Model"
    module_path: str = "__init__.py"
    kwargs: dict[str, Any] = Field(default_factory=dict)


class StatSpecEntry(BaseModel):
    """One ``stat_specifications`` entry of ``learnware.yaml``."""

    module_path: str | None = None
    class_name: str = "RKMETableSpecification"
    file_name: str = "stat_spec.json"
    kwargs: dict[str, Any] = Field(default_factory=dict)


class LearnwareYaml(BaseModel):
    """``learnware.yaml`` as learnware writes it; wrongly typed fields are a PackageError
    naming the field, not a 500."""

    name: str | None = None
    model: ModelConfig = Field(default_factory=ModelConfig)
    stat_specifications: list[StatSpecEntry] = Field(
        default_factory=lambda: [StatSpecEntry()], description="default: one RKME table spec"
    )

    @classmethod
    def parse(cls, cfg: Any) -> LearnwareYaml:
        if not isinstance(cfg, dict):
            raise PackageError(f"{YAML_FILE} must be a mapping")
        cfg = {k: v for k, v in cfg.items() if v is not None}
        try:
            return cls.model_validate(cfg)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()[:5]
            )
            raise PackageError(f"{YAML_FILE} is invalid: {problems}") from None


class PackageInfo(BaseModel):
    """What the market needs from an extracted package."""

    model_config = {"arbitrary_types_allowed": True}

    name: str | None = None
    model: ModelConfig
    stat_spec: RKMETableSpec
    semantic_spec: SemanticSpec | None = None


def unpacked_size(data: bytes) -> int:
    """Bytes the zip's members declare (what extraction writes); 0 for a zip that does not open
    (it is refused elsewhere)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile:
        return 0


def safe_extract(data: bytes, dest: Path, max_bytes: int = MAX_UNCOMPRESSED_BYTES, max_files: int = MAX_FILES) -> None:
    """Extract a zip into ``dest`` after validating every member.

    The bounds are checked on the central directory's declared sizes before a byte is written
    (``zipfile`` stops a member at its declared size and fails its CRC check beyond it).
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise PackageError(f"not a valid zip file: {exc}") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > max_files:
            raise PackageTooLarge(
                f"zip has {len(infos)} entries, more than the market's limit of {max_files} files per package "
                "(MarketSettings.max_package_files / SEDNA_MARKET_MAX_PACKAGE_FILES)"
            )
        total = 0
        for info in infos:
            p = PurePosixPath(info.filename)
            if p.is_absolute() or ".." in p.parts or "\\" in info.filename:
                raise PackageError(f"unsafe path in zip: {info.filename!r}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise PackageError(f"symbolic links are not allowed: {info.filename!r}")
            total += info.file_size
            if total > max_bytes:
                raise PackageTooLarge(
                    f"zip expands to more than {max_bytes} bytes, the market's limit of unpacked bytes per package "
                    "(MarketSettings.max_package_bytes / SEDNA_MARKET_MAX_PACKAGE_BYTES); ship smaller files"
                )
        try:
            zf.extractall(dest)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise PackageError(f"corrupt zip member: {exc}") from exc


def _package_root(dest: Path) -> Path:
    """Zips made by 'compress folder' wrap everything in one directory: descend into it."""
    if (dest / YAML_FILE).exists():
        return dest
    entries = [e for e in dest.iterdir() if not e.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / YAML_FILE).exists():
        return entries[0]
    return dest


def _parse_spec_file(path: Path, where: str, parse: Callable[[dict[str, Any], str], T]) -> T:
    """One spec file of the package: JSON (bounded, see :func:`~.spec.parsing.load_json`) whose
    top level is an object, then ``parse``; every failure is a :class:`PackageError` naming it."""
    try:
        data = load_json_object(path.read_bytes(), where)
    except SpecDataError as exc:
        raise PackageError(str(exc)) from None
    except OSError as exc:
        raise PackageError(f"{where} cannot be read: {exc}") from None
    try:
        return parse(data, where)
    except (ValueError, TypeError) as exc:
        raise PackageError(f"{where} is invalid: {exc}") from None


def read_package(root: Path, max_yaml_nodes: int = MAX_YAML_NODES) -> tuple[Path, PackageInfo]:
    """Parse an extracted package; returns its root directory and the parsed info.

    ``learnware.yaml`` is untrusted: it is loaded safely and its aliases may expand to at most
    ``max_yaml_nodes`` nodes (checked before anything is constructed).
    """
    root = _package_root(root)
    yaml_path = root / YAML_FILE
    if not yaml_path.exists():
        raise PackageError(f"package lacks {YAML_FILE}")
    try:
        cfg = safe_load_bounded(
            yaml_path.read_text(), max_yaml_nodes, "MarketSettings.max_yaml_nodes / SEDNA_MARKET_MAX_YAML_NODES"
        ) or {}
    except AliasExpansionError as exc:
        raise PackageError(f"{YAML_FILE} is refused: {exc} (limit {max_yaml_nodes} nodes)") from exc
    except RecursionError:
        # PyYAML composes nested collections recursively: '[' * 500 exhausts the stack
        raise PackageError(f"{YAML_FILE} is nested too deeply to parse; flatten it") from None
    except yaml.YAMLError as exc:
        raise PackageError(f"{YAML_FILE} is not valid YAML: {exc}") from exc
    parsed = LearnwareYaml.parse(cfg)
    model = parsed.model
    if PurePosixPath(model.module_path).is_absolute() or ".." in PurePosixPath(model.module_path).parts:
        raise PackageError("model.module_path must stay inside the package")
    if not (root / model.module_path).exists():
        raise PackageError(f"model module {model.module_path!r} not found in package")
    spec: RKMETableSpec | None = None
    for entry in parsed.stat_specifications or [StatSpecEntry()]:
        spec_cls = STAT_SPEC_TYPES.get(entry.class_name)
        if spec_cls is None:  # a type this market does not read (e.g. a system spec): skipped
            continue
        fname = entry.file_name
        path = root / fname
        if (
            PurePosixPath(fname).is_absolute()
            or ".." in PurePosixPath(fname).parts
            or not path.resolve().is_relative_to(root.resolve())
        ):
            raise PackageError(f"statistical specification file {fname!r} must be a path inside the package")
        if not path.is_file():
            raise PackageError(f"statistical specification file {fname!r} not found in package")
        spec = _parse_spec_file(path, f"statistical specification {fname!r}", spec_cls.from_dict)
    if spec is None:
        raise PackageError(
            "package has no statistical specification of a supported type "
            "(RKMETableSpecification, RKMETextSpecification or RKMEImageSpecification)"
        )
    semantic = None
    sem_path = root / SEMANTIC_FILE
    if sem_path.exists():
        semantic = _parse_spec_file(sem_path, SEMANTIC_FILE, SemanticSpec.from_dict)
    return root, PackageInfo(name=parsed.name, model=model, stat_spec=spec, semantic_spec=semantic)


_PICKLE_INIT = '''"""Generated wrapper around a pickled estimator."""
import os

import numpy as np

try:
    from learnware.model import BaseModel
except ImportError:  # outside learnware: the market's own interface
    from sedna_market.model import BaseModel


class PickleModel(BaseModel):
    def __init__(self, input_shape=None, output_shape=None, predict_method="predict"):
        super().__init__(
            input_shape=tuple(input_shape) if input_shape is not None else None,
            output_shape=tuple(output_shape) if output_shape is not None else None,
        )
        import pickle

        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.pkl"), "rb") as fh:
            self.model = pickle.load(fh)
        self.predict_method = predict_method

    def predict(self, X):
        return np.asarray(getattr(self.model, self.predict_method)(X))

    def fit(self, X, y):
        self.model.fit(X, y)

    def finetune(self, X, y):
        self.model.fit(X, y)
'''


def build_pickle_package(
    model: Any,
    stat_spec: RKMETableSpec,
    input_shape: tuple[int, ...] | None,
    output_shape: tuple[int, ...] | None,
    semantic_spec: SemanticSpec | None = None,
    predict_method: str = "predict",
    extra_files: dict[str, str | bytes] | None = None,
) -> bytes:
    """Zip a picklable estimator as a learnware package (loadable by learnware too); the yaml names
    the spec's own class (table, text or image RKME); ``input_shape`` may be None (text models);
    ``extra_files`` (name -> content) are added at the package root (e.g. ``unseen_profile.json``)."""
    yml = {
        "model": {
            "class_name": "PickleModel",
            "module_path": "__init__.py",
            "kwargs": {
                "input_shape": list(input_shape) if input_shape is not None else None,
                "output_shape": list(output_shape) if output_shape is not None else None,
                "predict_method": predict_method,
            },
        },
        "stat_specifications": [
            {
                "module_path": "learnware.specification",
                "class_name": stat_spec.type,
                "file_name": "stat_spec.json",
                "kwargs": {},
            }
        ],
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(YAML_FILE, yaml.safe_dump(yml))
        zf.writestr("__init__.py", _PICKLE_INIT)
        zf.writestr("model.pkl", pickle.dumps(model))
        zf.writestr("stat_spec.json", stat_spec.to_json())
        zf.writestr("requirements.txt", "numpy\nscikit-learn\n")
        if semantic_spec is not None:
            zf.writestr(SEMANTIC_FILE, json.dumps(semantic_spec.to_dict()))
        for name, content in (extra_files or {}).items():
            if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
                raise PackageError(f"unsafe extra file name {name!r}")
            zf.writestr(name, content)
    return buf.getvalue()
