"""MindSpore backend: the generic backend with MindSpore's naming and device context (set
only when MindSpore is installed)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from sedna.backend.base import BackendBase

__all__ = ["MSBackend"]


class MSBackend(BackendBase):
    """``BACKEND_TYPE=MINDSPORE``."""

    framework = "mindspore"

    def __init__(self, estimator: Any, fine_tune: bool = True, **kwargs: Any) -> None:
        super().__init__(estimator, fine_tune=fine_tune, **kwargs)
        if importlib.util.find_spec("mindspore") is not None:
            import mindspore.context as context

            target = "GPU" if self.use_cuda else os.environ.get("DEVICE_CATEGORY", "CPU")
            context.set_context(mode=context.GRAPH_MODE, device_target=target)
