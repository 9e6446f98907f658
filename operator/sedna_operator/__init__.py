"""The Sedna control plane: CRD models, reconcilers, runtimes and the local controller."""

__version__ = "0.1.0"
