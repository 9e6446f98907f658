"""TensorFlow / Keras backends. TensorFlow is optional: it is imported only to configure
GPU memory growth when it is installed, so estimators that never touch TF (Sedna's default
``BACKEND_TYPE`` is TENSORFLOW) work without it."""

from __future__ import annotations

import importlib.util
from typing import Any

from sedna.backend.base import BackendBase
from sedna.common.log import get_logger

__all__ = ["TFBackend", "KerasBackend"]

LOG = get_logger("backend.tensorflow")


def _configure_tf(use_cuda: bool) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        return
    try:
        import tensorflow as tf

        if use_cuda:
            for gpu in tf.config.list_physical_devices("GPU"):
                # without memory growth TF reserves the whole GPU for one worker
                tf.config.experimental.set_memory_growth(gpu, True)
        else:
            tf.config.set_visible_devices([], "GPU")
    except Exception as exc:  # a TF configuration problem must not stop a CPU worker
        LOG.warning("tensorflow device configuration skipped: %s", exc)


class TFBackend(BackendBase):
    """``BACKEND_TYPE=TENSORFLOW`` (Sedna's default)."""

    framework = "tensorflow"

    def __init__(self, estimator: Any, fine_tune: bool = True, **kwargs: Any) -> None:
        super().__init__(estimator, fine_tune=fine_tune, **kwargs)
        _configure_tf(self.use_cuda)


class KerasBackend(TFBackend):
    """``BACKEND_TYPE=KERAS``."""

    framework = "keras"
