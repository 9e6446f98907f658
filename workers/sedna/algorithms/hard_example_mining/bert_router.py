"""``BertRouter``: a text-classification router deciding whether a query needs the cloud model.

Registered under ``ClassType.HEM`` only when both torch and transformers are installed
(checked with ``find_spec``, so importing this module does not pay for importing torch).
Rule (reference §5.1): with the pipeline's scores s = P(LABEL_0) / (P(LABEL_0) + P(LABEL_1)),
the query is **not** hard iff s >= ``threshold``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sedna.algorithms.hard_example_mining.hard_example_mining import BaseFilter
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.utils import to_float, to_int

__all__ = ["BERT_ROUTER_AVAILABLE", "BertRouterFilter"]



def _available(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):  # a broken install or an import hook refusing it
        return False


BERT_ROUTER_AVAILABLE: bool = _available("torch", "transformers")


class BertRouterFilter(BaseFilter):
    """Route a text query with a BERT classifier (the pipeline is built on first use)."""

    def __init__(
        self,
        model: str = "routellm/bert",
        task: str = "text-classification",
        max_length: int | str = 512,
        device: str | None = None,
        threshold: float | str = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.task = task
        self.max_length = to_int(max_length, "max_length")
        self.device = device
        self.threshold = to_float(threshold, "threshold")
        self._pipe: Any = None

    def _pipeline(self) -> Any:
        if self._pipe is None:
            from transformers import pipeline

            self._pipe = pipeline(self.task, model=self.model, device=self.device)
        return self._pipe

    def score(self, text: str) -> float:
        """s = P(LABEL_0) / (P(LABEL_0) + P(LABEL_1)) for one query."""
        out = self._pipeline()(text, top_k=None, truncation=True, max_length=self.max_length)
        if out and isinstance(out[0], list):
            out = out[0]
        probs = {item["label"]: float(item["score"]) for item in out}
        p0, p1 = probs.get("LABEL_0", 0.0), probs.get("LABEL_1", 0.0)
        return p0 / (p0 + p1) if p0 + p1 > 0 else 0.0

    def __call__(self, infer_result: Any = None) -> bool:
        if isinstance(infer_result, dict):
            infer_result = infer_result.get("query") or infer_result.get("text")
        if not isinstance(infer_result, str) or not infer_result:
            return False
        return self.score(infer_result) < self.threshold


if BERT_ROUTER_AVAILABLE:
    ClassFactory.register_cls(BertRouterFilter, ClassType.HEM, "BertRouter")
