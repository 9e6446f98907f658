"""Pure reconcilers, one module per kind, and the Plan contract they share."""
