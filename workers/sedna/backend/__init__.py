"""Backend selection (Sedna's ``set_backend``) and estimator adapters.

``BACKEND_TYPE`` picks the backend: TENSORFLOW (Sedna's default), KERAS, TORCH, MINDSPORE,
SKLEARN, anything else the generic :class:`BackendBase`. A GPU is used when
``CUDA_VISIBLE_DEVICES`` names one (``DEVICE_CATEGORY`` becomes ``GPU``, as in Sedna) or
``DEVICE_CATEGORY=GPU``. Framework modules are imported only for the backend chosen, so
``import sedna.backend`` needs neither torch nor TensorFlow.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from sedna.backend.base import BackendBase, EstimatorInterfaceError
from sedna.common.config import BaseConfig

__all__ = [
    "set_backend",
    "BackendBase",
    "EstimatorInterfaceError",
    "SklearnEstimator",
    "SklearnBackend",
    "TorchEstimator",
    "TorchBackend",
]

_BACKENDS: dict[str, tuple[str, str]] = {
    "TENSORFLOW": ("sedna.backend.tensorflow", "TFBackend"),
    "KERAS": ("sedna.backend.tensorflow", "KerasBackend"),
    "TORCH": ("sedna.backend.torch", "TorchBackend"),
    "PYTORCH": ("sedna.backend.torch", "TorchBackend"),
    "MINDSPORE": ("sedna.backend.mindspore", "MSBackend"),
    "SKLEARN": ("sedna.backend.sklearn", "SklearnBackend"),
}

# names served lazily by __getattr__ so torch is imported only when asked for
_LAZY: dict[str, tuple[str, str]] = {
    "SklearnEstimator": ("sedna.backend.sklearn", "SklearnEstimator"),
    "SklearnBackend": ("sedna.backend.sklearn", "SklearnBackend"),
    "TorchEstimator": ("sedna.backend.torch", "TorchEstimator"),
    "TorchBackend": ("sedna.backend.torch", "TorchBackend"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _setting(config: Any, key: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        value = config.get(key)
    else:
        value = getattr(config, key, None)
    return default if value in (None, "") else value


def _cuda_requested(device_category: str) -> bool:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        # "" and "-1" hide every GPU
        return visible.strip() not in ("", "-1")
    return str(device_category).upper() == "GPU"


def set_backend(estimator: Any = None, config: Any = None) -> BackendBase | None:
    """Wrap ``estimator`` (class or instance) in the backend ``BACKEND_TYPE`` selects.

    ``config`` is a mapping or an object with ``BaseConfig``'s attribute names (default:
    ``BaseConfig``): ``backend_type``, ``device_category``, ``model_url``,
    ``base_model_url`` (the save path when set), ``model_name``. Returns ``None`` without
    an estimator, as Sedna.
    """
    if estimator is None:
        return None
    config = BaseConfig if config is None else config
    backend_type = str(os.environ.get("BACKEND_TYPE") or _setting(config, "backend_type", "UNKNOWN")).upper()
    device_category = os.environ.get("DEVICE_CATEGORY") or _setting(config, "device_category", "CPU")
    use_cuda = _cuda_requested(device_category)
    # Sedna publishes the decision through the environment; user code reads it from there
    os.environ["DEVICE_CATEGORY"] = "GPU" if use_cuda else str(device_category)
    if backend_type in _BACKENDS:
        module, attr = _BACKENDS[backend_type]
        backend_cls = getattr(importlib.import_module(module), attr)
    else:
        backend_cls = BackendBase
    model_save_url = _setting(config, "model_url")
    base_model_save = _setting(config, "base_model_url") or model_save_url
    return backend_cls(
        estimator=estimator,
        use_cuda=use_cuda,
        model_save_path=base_model_save,
        model_name=_setting(config, "model_name"),
        model_save_url=model_save_url,
    )
