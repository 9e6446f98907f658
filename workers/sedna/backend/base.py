"""``BackendBase``: the framework-neutral wrapper every worker uses around the user's estimator.

The estimator is anything with Sedna's interface (``train``/``evaluate``/``predict``/
``load``/``save``, optionally ``predict_proba``/``get_weights``/``set_weights``), given as an
instance or as a class; a class is instantiated on first use with the keyword arguments its
constructor accepts. Every call passes only the keyword arguments the target method names.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from typing import Any

from sedna.common.config import BaseConfig
from sedna.common.file_ops import FileOps
from sedna.common.log import get_logger
from sedna.common.utils import filter_kwargs, get_file_format

__all__ = ["BackendBase", "EstimatorInterfaceError", "call_load"]

LOG = get_logger("backend")


class EstimatorInterfaceError(TypeError):
    """The estimator lacks a method the worker needs."""


_POSTFIX = {"pytorch": ".pth", "keras": ".pb", "tensorflow": ".pb", "mindspore": ".ckpt"}


def call_load(load: Any, model_path: str | None) -> Any:
    """An estimator's ``load`` called as Sedna calls it: ``load(model_url=path)`` when it names
    that parameter, else ``load(path)``; ``load()`` when there is no path."""
    if not model_path:
        return load()
    try:
        params = inspect.signature(load).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    if "model_url" in params:
        return load(model_url=model_path)
    return load(model_path)


class BackendBase:
    """Generic backend (also the fallback for unknown ``BACKEND_TYPE``)."""

    framework: str = ""

    def __init__(self, estimator: Any, fine_tune: bool = True, **kwargs: Any) -> None:
        self.estimator = estimator
        self.use_cuda = bool(kwargs.get("use_cuda"))
        self.fine_tune = fine_tune
        self.model_save_path: str = kwargs.get("model_save_path") or tempfile.gettempdir()
        self.default_name: str | None = kwargs.get("model_name")
        self.model_save_url: str | None = kwargs.get("model_save_url")
        self.has_load = False
        self._trained = False

    # ------------------------------------------------------------------ naming
    @property
    def model_name(self) -> str:
        """The model file name: ``MODEL_NAME``, else Sedna's ``model[_finetune_]<fw><ext>``."""
        if self.default_name:
            return self.default_name
        flag = "_finetune_" if self.fine_tune else ""
        return f"model{flag}{self.framework}{_POSTFIX.get(self.framework, '.pkl')}"

    @staticmethod
    def parse_kwargs(func: Any, **kwargs: Any) -> dict[str, Any]:
        """The keyword arguments ``func`` accepts (Sedna's helper name)."""
        return filter_kwargs(func, kwargs)

    # --------------------------------------------------------------- plumbing
    def _wrap(self, estimator: Any) -> Any:
        """Adapt an instance to Sedna's interface; the generic backend takes it as is."""
        return estimator

    def _instance(self, **kwargs: Any) -> Any:
        if isinstance(self.estimator, type):
            self.estimator = self.estimator(**filter_kwargs(self.estimator, kwargs))
        self.estimator = self._wrap(self.estimator)
        return self.estimator

    def _method(self, *names: str, **kwargs: Any) -> Any:
        est = self._instance(**kwargs)
        for name in names:
            method = getattr(est, name, None)
            if callable(method):
                return method
        raise EstimatorInterfaceError(
            f"estimator {type(est).__name__} has none of the methods {', '.join(names)}"
        )

    # ------------------------------------------------------------ operations
    def train(self, *args: Any, **kwargs: Any) -> Any:
        """``estimator.train`` (or ``fit``) with the accepted keyword arguments.

        Fine-tuning hook: when the estimator already holds a model (loaded, or trained in an
        earlier call such as the previous FL round) and ``fine_tune`` is on, its optional
        ``prepare_finetune()`` runs first. The built-in adapters use it to continue training
        for real (scikit-learn: forget the last fit's early-stopping record).
        """
        method = self._method("train", "fit", **kwargs)
        if self.fine_tune and (self.has_load or self._trained):
            prepare = getattr(self.estimator, "prepare_finetune", None)
            if callable(prepare):
                prepare()
        result = method(*args, **filter_kwargs(method, kwargs))
        self._trained = True
        return result

    def predict(self, data: Any, **kwargs: Any) -> Any:
        """``estimator.predict(data)``."""
        method = self._method("predict", **kwargs)
        return method(data, **filter_kwargs(method, kwargs))

    def predict_proba(self, data: Any, **kwargs: Any) -> Any:
        """``estimator.predict_proba(data)``, or ``predict`` when the estimator has none."""
        method = self._method("predict_proba", "predict", **kwargs)
        return method(data, **filter_kwargs(method, kwargs))

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        """``estimator.evaluate`` (or ``score``); ``None`` when it has neither, as Sedna."""
        try:
            method = self._method("evaluate", "score", **kwargs)
        except EstimatorInterfaceError:
            return None
        return method(*args, **filter_kwargs(method, kwargs))

    def get_weights(self) -> Any:
        """``estimator.get_weights()`` (a list of numpy arrays for aggregation)."""
        return self._method("get_weights")()

    def set_weights(self, weights: Any) -> None:
        """``estimator.set_weights(weights)``."""
        self._method("set_weights")(weights)

    # ------------------------------------------------------------ persistence
    def _split_target(self, model_url: str = "", model_name: str | None = None) -> tuple[str, str]:
        """(directory, file name) where the model lives.

        A save path naming a file (it exists as a file, or it has an extension and is not a
        directory) is split; Sedna only splits existing files, which turns a first save to
        ``MODEL_URL=/out/model.pkl`` into ``/out/model.pkl/model.pkl``.
        """
        name = model_name or self.model_name
        path = self.model_save_path
        if model_url and not FileOps.is_remote(model_url) and (
            os.path.isfile(model_url) or (get_file_format(model_url) and not os.path.isdir(model_url))
        ):
            path = model_url
        if os.path.isfile(path) or (get_file_format(path) and not os.path.isdir(path)):
            return os.path.split(path)
        return path, name

    def save(self, model_url: str = "", model_name: str | None = None) -> str:
        """Save the estimator and return where the model is (the remote URL if uploaded)."""
        est = self._instance()
        if not callable(getattr(est, "save", None)):
            raise EstimatorInterfaceError(f"estimator {type(est).__name__} has no save()")
        directory, name = self._split_target("", model_name)
        upload_to = model_url or None
        if upload_to and FileOps.is_remote(upload_to) and not get_file_format(upload_to):
            # a remote directory (an s3 outputDir): the model goes inside it, as for a local one
            upload_to = FileOps.join_path(upload_to, name)
        if FileOps.is_remote(directory):
            upload_to = upload_to or FileOps.join_path(directory, name)
            directory = tempfile.mkdtemp(prefix="sedna-model-")
        if directory:
            os.makedirs(directory, exist_ok=True)
        model_path = os.path.join(directory, name)
        est.save(model_path)
        if upload_to and os.path.exists(model_path):
            if FileOps.is_remote(upload_to) or os.path.abspath(upload_to) != os.path.abspath(model_path):
                return FileOps.upload(model_path, upload_to)
        return model_path

    def load(self, model_url: str = "", model_name: str | None = None, **kwargs: Any) -> Any:
        """Load the model from ``model_url`` (downloaded when remote) or the save path."""
        est = self._instance(**kwargs)
        if FileOps.is_remote(model_url):
            model_path = FileOps.download(model_url)
        else:
            directory, name = self._split_target(model_url, model_name)
            model_path = os.path.join(directory, name) if directory else name
            if model_url and os.path.isdir(model_url):
                model_path = os.path.join(model_url, model_name or self.model_name)
        self.has_load = True
        load = getattr(est, "load", None)
        if not callable(load):
            LOG.warning("nothing loaded: estimator %s has no load()", type(est).__name__)
            return None
        if not os.path.exists(model_path):
            LOG.warning("nothing loaded: %s does not exist", model_path)
            return None
        return call_load(load, model_path)

    def model_info(self, model: str, relpath: str | None = None, result: Any = None) -> list[dict[str, Any]]:
        """Sedna's report of a saved model: ``[{"format", "url", "metrics"}]``.

        ``url`` is the path without ``relpath`` (default ``DATA_PATH_PREFIX``), which is what
        the host sees; a ``.pb`` model also reports its checkpoint directory, as Sedna does.
        """
        prefix = BaseConfig.data_path_prefix if relpath is None else relpath
        fmt = get_file_format(model)
        url = FileOps.remove_path_prefix(model, prefix)
        info = [{"format": fmt, "url": url, "metrics": result}]
        if fmt == "pb":
            ckpt = FileOps.remove_path_prefix(os.path.dirname(model), prefix)
            info.append({"format": "ckpt", "url": ckpt, "metrics": result})
        return info
