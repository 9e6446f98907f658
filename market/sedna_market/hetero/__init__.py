"""Hetero market: models from different feature spaces mapped into one specification space.

- :mod:`.engine`: the tabular transformer, its VPCL training, mapping, save/load;
- :mod:`.rules`: which models and users are hetero-eligible;
- :mod:`.organizer`: hetero specs kept in step with the market (add/update/delete, auto-update)
  and the hetero search path;
- :mod:`.align`: reuse of a model on another feature space (feature and output alignment).

Importing this package does not import torch; the submodules do.
"""

from .rules import hetero_reason, is_hetero
from .spec import HETERO_SPEC_TYPE, HeteroMapTableSpec

__all__ = ["HETERO_SPEC_TYPE", "HeteroMapTableSpec", "hetero_reason", "is_hetero"]
