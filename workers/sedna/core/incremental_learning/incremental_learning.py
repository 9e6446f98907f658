"""Incremental learning worker (train / eval / infer roles of an IncrementalLearningJob)."""

from __future__ import annotations

import os
from typing import Any

from sedna.core.base import JobBase, K8sResourceKind, K8sResourceKindStatus, resolve_callback

__all__ = ["IncrementalLearning"]


def _constructor_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A worker's kwargs for building its estimator class in ``backend.load`` (whose own
    ``model_url``/``model_name`` parameters they must not fill)."""
    return {k: v for k, v in kwargs.items() if k not in ("model_url", "model_name")}


class IncrementalLearning(JobBase):
    """Sedna's ``IncrementalLearning(estimator, hard_example_mining=None)``.

    * ``train`` saves the model to ``MODEL_URL`` (a directory or a file path) and reports
      ``completed`` with its ``model_info`` (kind ``train``);
    * ``evaluate`` loads every model of ``MODEL_URLS`` (``;``-separated), evaluates each and
      reports kind ``eval`` with one ``{format, url, metrics}`` per model, in order;
    * ``inference`` returns ``(infer_result, result, is_hard_example)``; with
      ``MODEL_HOT_UPDATE=true`` a new model is swapped in when the hot-update config changes.
    """

    job_kind_default = K8sResourceKind.INCREMENTAL_JOB

    def __init__(self, estimator: Any, hard_example_mining: Any = None, config: dict[str, Any] | None = None):
        super().__init__(estimator=estimator, config=config)
        self.job_kind = K8sResourceKind.INCREMENTAL_JOB
        self.model_urls = self.get_parameters("MODEL_URLS")
        if not hard_example_mining:
            hard_example_mining = self.get_hem_algorithm_from_config()
        self.hard_example_mining_algorithm = self.build_hem(hard_example_mining)
        self._loaded = False

    def train(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Train, save to ``MODEL_URL``, report; returns the estimator (or ``post_process(estimator)``)."""
        callback = resolve_callback(post_process)
        base_model = self.get_parameters("BASE_MODEL_URL")
        if base_model and os.path.exists(base_model):
            # fine-tune from the previous round's model, as the LC asks for. The train kwargs go
            # along: an estimator given as a class is built here, with the keyword arguments
            # its constructor names (Sedna builds it at train time with them).
            try:
                self.estimator.load(base_model, **_constructor_kwargs(kwargs))
            except Exception as err:
                self.log.warning("base model %s not loaded: %s", base_model, err)
        res = self.estimator.train(train_data=train_data, valid_data=valid_data, **kwargs)
        if self.model_path and not os.path.splitext(self.model_path)[1]:
            os.makedirs(self.model_path, exist_ok=True)
        model_paths = self.estimator.save(self.model_path)
        results = self.estimator.model_info(model_paths, result=res, relpath=self.config.data_path_prefix)
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED, results)
        return callback(self.estimator) if callback else self.estimator

    def evaluate(self, data: Any, post_process: Any = None, **kwargs: Any) -> Any:
        """Evaluate every model of ``MODEL_URLS``; returns the list of ``{format, url, metrics}``."""
        callback = resolve_callback(post_process)
        urls = self.get_parameters("MODEL_URLS") or self.model_urls or self.model_path or ""
        results: list[dict[str, Any]] = []
        for url in [u.strip() for u in str(urls).split(";") if u.strip()]:
            self._load_for_eval(url, **kwargs)
            # Sedna's estimators open ``model_path`` themselves in ``evaluate``; ours may rely
            # on the load above. Both get what they need. The data goes positionally, as
            # Sedna's TF backend passes it: helmet-style ``evaluate(self, valid_data, ...)``.
            metrics = self.estimator.evaluate(data, model_path=url, **kwargs)
            info = self.estimator.model_info(url, result=metrics, relpath=self.config.data_path_prefix)
            # one result per MODEL_URLS entry, in order (the deploy trigger compares the first
            # two): a ``.pb`` model's extra checkpoint entry belongs to train reports only
            results.append(info[0] if isinstance(info, list) else info)
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED, results, kind="eval")
        return callback(results) if callback else results

    def _load_for_eval(self, url: str, **kwargs: Any) -> None:
        self.estimator.model_save_path = url
        try:
            self.estimator.load(url, **_constructor_kwargs(kwargs))
        except Exception as err:  # e.g. a TF checkpoint the estimator opens itself in evaluate
            self.log.warning("model %s not loaded before evaluate (%s); evaluate gets model_path", url, err)

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        path = self.model_path
        if path and os.path.exists(path) and not getattr(self.estimator, "has_load", False):
            with self.estimator_lock:
                self.estimator.load(path)
        self._loaded = True

    def inference(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> tuple[Any, Any, bool]:
        """``(infer_result, result, is_hard_example)``: raw prediction, post-processed, HEM verdict."""
        self._ensure_loaded()
        callback = resolve_callback(post_process)
        estimator = self.estimator  # one read: a hot update swaps the attribute atomically
        infer_res = estimator.predict(data, **kwargs)
        res = callback(infer_res) if callback else infer_res
        is_hard = bool(self.hard_example_mining_algorithm(res)) if self.hard_example_mining_algorithm else False
        return infer_res, res, is_hard
