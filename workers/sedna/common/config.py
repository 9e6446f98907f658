"""The worker environment contract (reference/sedna.md §4.3).

Sedna reads the environment into class attributes at import time, so a value set after
``import sedna`` is silently ignored. Here every attribute of :class:`BaseConfig` is read
from ``os.environ`` when it is accessed; the names and defaults are Sedna's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sedna.common.utils import parse_param

__all__ = ["BaseConfig", "Config", "Context", "ENV_DEFAULTS"]

# attribute -> (environment variable, default)
ENV_DEFAULTS: dict[str, tuple[str, str | None]] = {
    "device_category": ("DEVICE_CATEGORY", "CPU"),
    "backend_type": ("BACKEND_TYPE", "TENSORFLOW"),
    "lc_server": ("LC_SERVER", "http://127.0.0.1:9100"),
    "original_dataset_url": ("ORIGINAL_DATASET_URL", None),
    "train_dataset_url": ("TRAIN_DATASET_URL", None),
    "test_dataset_url": ("TEST_DATASET_URL", None),
    "data_path_prefix": ("DATA_PATH_PREFIX", "/home/data"),
    "namespace": ("NAMESPACE", ""),
    "worker_name": ("WORKER_NAME", ""),
    "service_name": ("SERVICE_NAME", ""),
    "job_name": ("JOB_NAME", "sedna"),
    "pretrained_model_url": ("PRETRAINED_MODEL_URL", "./"),
    "model_url": ("MODEL_URL", None),
    "model_name": ("MODEL_NAME", None),
    "log_level": ("LOG_LEVEL", "INFO"),
    "transmitter": ("TRANSMITTER", "ws"),
    "agg_data_path": ("AGG_DATA_PATH", "./"),
    "s3_endpoint_url": ("S3_ENDPOINT_URL", None),
    "access_key_id": ("ACCESS_KEY_ID", None),
    "secret_access_key": ("SECRET_ACCESS_KEY", None),
}


def _parse_parameters(raw: str | None) -> dict[str, Any]:
    """``PARAMETERS`` is a JSON string or a path to a JSON/YAML file."""
    if not raw:
        return {}
    text = raw
    path = Path(raw)
    try:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
    except OSError:
        pass
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        import yaml

        value = yaml.safe_load(text)
    if not isinstance(value, dict):
        raise ValueError(f"PARAMETERS must hold a mapping, got {type(value).__name__}")
    return value


class Config(dict):  # type: ignore[type-arg]
    """A dict with attribute access, built from a mapping, a JSON string or a file path
    (``.json``, ``.yaml``/``.yml``; Sedna's ``.py`` configs are not executed here: use JSON
    or YAML). Nested mappings become :class:`Config` too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for arg in args:
            self.update(self._load(arg))
        self.update(kwargs)

    @staticmethod
    def _load(source: Any) -> dict[str, Any]:
        if isinstance(source, dict):
            return source
        text = str(source)
        path = Path(text)
        if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
            import yaml

            from sedna.common.yamlbound import safe_load_bounded

            try:  # JSON is YAML, so one (bounded) safe loader reads both
                value = safe_load_bounded(path.read_text(encoding="utf-8"), 200_000)
            except yaml.YAMLError as exc:
                raise ValueError(f"Config({text!r}): not valid YAML or JSON: {exc}") from exc
        elif path.suffix == ".py":
            raise ValueError(f"Config({text!r}): Python config files are not executed; write it as JSON or YAML")
        else:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"Config: {text[:80]!r} is neither a config file nor JSON ({exc.msg})") from exc
            except RecursionError:  # json recurses per nesting level
                raise ValueError(f"Config: {text[:80]!r} is nested too deeply") from None
        if not isinstance(value, dict):
            raise ValueError(f"Config: expected a mapping, got {type(value).__name__}")
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, Config(value) if isinstance(value, dict) and not isinstance(value, Config) else value)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


class _ConfigMeta(type):
    def __getattr__(cls, name: str) -> Any:
        overrides: dict[str, Any] = type.__getattribute__(cls, "_overrides")
        if name in overrides:
            return overrides[name]
        if name in ENV_DEFAULTS:
            env, default = ENV_DEFAULTS[name]
            return os.environ.get(env, default)
        if name in ("parameters", "parameter"):  # Sedna's attribute is ``parameter``
            return _parse_parameters(os.environ.get("PARAMETERS"))
        raise AttributeError(f"BaseConfig has no setting {name!r}")

    def __setattr__(cls, name: str, value: Any) -> None:
        if name.startswith("_"):
            type.__setattr__(cls, name, value)
        else:
            type.__getattribute__(cls, "_overrides")[name] = value


class BaseConfig(metaclass=_ConfigMeta):
    """Worker settings, read from the environment on every access (``BaseConfig.job_name``).

    Assigning an attribute (or :meth:`from_json`) overrides the environment for this process.
    """

    _overrides: dict[str, Any] = {}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> None:
        """Overlay extra keys, as Sedna's ``BaseConfig.from_json``."""
        for key, value in data.items():
            setattr(cls, key, value)

    @classmethod
    def reset(cls) -> None:
        """Drop every override (tests use this between cases)."""
        cls._overrides.clear()


class Context:
    """Sedna's accessors for user parameters and algorithm settings."""

    @staticmethod
    def get_parameters(param: str, default: Any = None) -> Any:
        """``os.environ[param]`` (or its upper-case name), else ``PARAMETERS[param]``, else ``default``.

        As in Sedna, an empty value counts as unset: ``epochs: ""`` in a manifest gives the
        script's default, not ``""`` (which ``int()`` would reject).
        """
        for key in (param, param.upper()):
            if os.environ.get(key):
                return os.environ[key]
        params = BaseConfig.parameters
        if params.get(param) not in (None, ""):
            return params[param]
        return default

    @staticmethod
    def get_algorithm_from_api(algorithm: str, **param: Any) -> dict[str, Any]:
        """``{"method": <ALG>_NAME, "param": {...}}`` from ``<ALG>_NAME`` and ``<ALG>_PARAMETERS``.

        ``<ALG>_PARAMETERS`` is Sedna's JSON list of ``{"key", "value"}`` (a plain JSON object
        is accepted too). Keyword arguments override the environment's values, as in Sedna
        (``get_hem_algorithm_from_config(threshold_img=0.9)`` wins over ``HEM_PARAMETERS``).
        Returns ``{}`` when ``<ALG>_NAME`` is unset.
        """
        name = Context.get_parameters(f"{algorithm}_NAME")
        if not name:
            return {}
        raw = Context.get_parameters(f"{algorithm}_PARAMETERS")
        merged = parse_param(raw, f"{algorithm}_PARAMETERS")
        merged.update(param)
        return {"method": name, "param": merged}
