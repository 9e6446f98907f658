"""The hetero specification: an RKME whose reduced points live in the engine's unified space.

Same math as the table RKME (Gaussian kernel, default ``gamma`` 0.1, squared MMD); only the JSON
``type`` differs (``HeteroMapTableSpecification``, learnware's name), so a hetero spec is never
mistaken for a table spec of the model's own features.
"""

from __future__ import annotations

from typing import Any

from ..spec.parsing import as_object, count, finite_array, finite_float
from ..spec.rkme import RKMETableSpec

HETERO_SPEC_TYPE = "HeteroMapTableSpecification"


class HeteroMapTableSpec(RKMETableSpec):
    """RKME in the unified space: ``z`` are the engine's embeddings of a model's (or a user's)
    reduced points, ``beta`` their original weights."""

    type = HETERO_SPEC_TYPE

    @classmethod
    def from_dict(cls, data: Any, where: str = "hetero specification") -> HeteroMapTableSpec:
        """Parse the JSON form; anything but a hetero spec is a ``ValueError`` naming the field."""
        data = as_object(data, where)
        if data.get("type") != HETERO_SPEC_TYPE:
            raise ValueError(f"{where}: type must be {HETERO_SPEC_TYPE!r}, not {str(data.get('type'))[:60]!r}")
        z = finite_array(data.get("z", []), "z")
        beta = finite_array(data.get("beta", []), "beta")
        if z.ndim != 2:
            raise ValueError(f"{where}: z must be a list of embedding vectors")
        return cls(z, beta, finite_float(data.get("gamma", 0.1), "gamma"), count(data.get("num_points", 0), "num_points"))
