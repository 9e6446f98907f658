"""RKME over embeddings: the base of the text and image specifications.

A text or image specification is a table RKME whose reduced points live in the space of a fixed
encoder (sentence embeddings, random-CNN image features).  The math is the table RKME's (Gaussian
kernel, squared MMD), so the stacked statistical index searches them unchanged; what differs is the
JSON ``type`` and the ``encoder`` that made the space: specs of different types or encoders never
meet in a search (their points would not be comparable).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .parsing import SpecDataError, as_object
from .rkme import SPEC_TYPE as TABLE_TYPE
from .rkme import RKMETableSpec


class EmbeddedRKMESpec(RKMETableSpec):
    """RKME of encoder outputs; ``z`` is ``(K, dim)`` and ``encoder`` names the space."""

    type = "EmbeddedRKMESpecification"
    #: the encoder this market's generator uses, and the width of its vectors
    default_encoder: ClassVar[str] = ""
    default_dim: ClassVar[int] = 0

    def __init__(
        self,
        z: np.ndarray,
        beta: np.ndarray,
        gamma: float = 0.1,
        num_points: int = 0,
        encoder: str | None = None,
    ) -> None:
        super().__init__(z, beta, gamma, num_points)
        if self.z.ndim != 2:
            raise ValueError(f"{self.type}: z must be a (points, dim) matrix of embeddings, got shape {self.z.shape}")
        self.encoder = self.default_encoder if encoder is None else encoder
        if self.encoder == self.default_encoder and self.default_dim and self.dim != self.default_dim:
            raise ValueError(
                f"{self.type}: z has {self.dim} columns but {self.default_encoder} vectors have {self.default_dim}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Learnware-like dict plus the ``encoder`` that made the space."""
        return {**super().to_dict(), "encoder": self.encoder}

    @classmethod
    def from_dict(cls, data: Any, where: str = "statistical spec") -> EmbeddedRKMESpec:
        """Parse the JSON form (untrusted): the numbers as for a table spec, then ``type`` and
        ``encoder``; anything wrong is a ``ValueError`` naming the field."""
        data = as_object(data, where)
        stype = data.get("type", cls.type)
        if stype != cls.type:
            raise SpecDataError(f"{where}: type must be {cls.type!r}, not {str(stype)[:60]!r}")
        encoder = data["encoder"] if "encoder" in data else cls.missing_encoder()
        if not isinstance(encoder, str) or not encoder or len(encoder) > 200:
            raise SpecDataError(f"{where}: encoder must be a non-empty string of at most 200 characters")
        base = RKMETableSpec.from_dict({**data, "type": TABLE_TYPE}, where)
        try:
            return cls(base.z, base.beta, base.gamma, base.num_points, encoder=encoder)
        except ValueError as exc:
            raise SpecDataError(f"{where}: {exc}") from None

    @classmethod
    def missing_encoder(cls) -> str:
        """The ``encoder`` assumed when the JSON has none (a spec made elsewhere)."""
        return "unknown"
