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

__all__ = ["BaseConfig", "Context", "ENV_DEFAULTS"]

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


class _ConfigMeta(type):
    def __getattr__(cls, name: str) -> Any:
        overrides: dict[str, Any] = type.__getattribute__(cls, "_overrides")
        if name in overrides:
            return overrides[name]
        if name in ENV_DEFAULTS:
            env, default = ENV_DEFAULTS[name]
            return os.environ.get(env, default)
        if name == "parameters":
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
        """``os.environ[param]`` (or its upper-case name), else ``PARAMETERS[param]``, else ``default``."""
        for key in (param, param.upper()):
            if key in os.environ:
                return os.environ[key]
        params = BaseConfig.parameters
        if param in params:
            return params[param]
        return default

    @staticmethod
    def get_algorithm_from_api(algorithm: str, **default_param: Any) -> dict[str, Any]:
        """``{"method": <ALG>_NAME, "param": {...}}`` from ``<ALG>_NAME`` and ``<ALG>_PARAMETERS``.

        ``<ALG>_PARAMETERS`` is Sedna's JSON list of ``{"key", "value"}`` (a plain JSON object
        is accepted too). Returns ``{}`` when ``<ALG>_NAME`` is unset.
        """
        name = Context.get_parameters(f"{algorithm}_NAME")
        if not name:
            return {}
        raw = Context.get_parameters(f"{algorithm}_PARAMETERS") or "[]"
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise ValueError(f"{algorithm}_PARAMETERS is not valid JSON: {exc}") from exc
        param: dict[str, Any] = dict(default_param)
        if isinstance(value, dict):
            param.update(value)
        elif isinstance(value, list):
            for item in value:
                if not isinstance(item, dict) or "key" not in item:
                    raise ValueError(
                        f"{algorithm}_PARAMETERS entries must be {{\"key\": ..., \"value\": ...}}, got {item!r}"
                    )
                param[str(item["key"])] = item.get("value")
        else:
            raise ValueError(f"{algorithm}_PARAMETERS must be a JSON list or object")
        return {"method": name, "param": param}
