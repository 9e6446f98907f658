"""Statistical checker: spec sanity, then the model run in a sandbox on generated inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..package import ModelConfig
from ..spec.rkme import RKMETableSpec
from ..spec.semantic import SemanticSpec
from ..status import CheckResult, CheckStatus
from .sandbox import ProbeResult, SandboxLimits, probe_model

PROBE_ROWS = 10


def _invalid(reason: str) -> CheckResult:
    return CheckResult(status=CheckStatus.INVALID, reason="statistical check: " + reason)


def spec_errors(semantic: SemanticSpec, spec: RKMETableSpec) -> str | None:
    """Checks that need no model run: finite self-distance and matching input dimension."""
    if not np.isfinite(spec.self_inner_prod()):
        return "RKME self distance is not finite"
    if semantic.first("Data") == "Table" and semantic.Input is not None:
        if spec.feature_shape != (semantic.Input.Dimension,):
            return (
                f"RKME reduced set has feature shape {spec.feature_shape} but Input.Dimension is "
                f"{semantic.Input.Dimension}"
            )
    return None


def judge_probe(semantic: SemanticSpec, spec: RKMETableSpec, probe: ProbeResult) -> CheckResult:
    """Turn a probe into a status (pure; unit-testable without processes)."""
    if probe.error is not None:
        if probe.missing_module:
            return CheckResult(
                status=CheckStatus.NONUSABLE,
                reason=f"statistical check: dependency {probe.missing_module!r} is not installed "
                "in the checker environment; stored as NONUSABLE",
            )
        return _invalid(probe.error)
    if probe.input_shape is not None and probe.input_shape != spec.feature_shape:
        return _invalid(f"model input_shape {probe.input_shape} != spec feature shape {spec.feature_shape}")
    out = probe.outputs
    assert out is not None
    if out.ndim == 0 or len(out) != PROBE_ROWS:
        return _invalid(f"predict on {PROBE_ROWS} rows returned {0 if out.ndim == 0 else len(out)} rows")
    if not np.all(np.isfinite(out.astype(np.float64))):
        return _invalid("predict returned NaN or Inf")
    task = semantic.first("Task")
    if probe.output_shape is not None or task in ("Classification", "Regression", "Feature Extraction"):
        if out.ndim == 1:
            out = out.reshape(-1, 1)
        if probe.output_shape is not None and tuple(out.shape[1:]) != probe.output_shape:
            return _invalid(f"outputs have per-sample shape {out.shape[1:]} but output_shape is {probe.output_shape}")
        dim = semantic.Output.Dimension if semantic.Output is not None else None
        per = out.shape[1:]
        if task == "Regression" and dim is not None and per[0] != dim:
            return _invalid(f"regression output width {per[0]} != Output.Dimension {dim}")
        if task == "Classification" and dim is not None:
            if per == (1,):
                labels = out.reshape(-1)
                if not (np.all(labels == np.round(labels)) and labels.min() >= 0 and labels.max() < dim):
                    return _invalid(f"predicted labels must be integers in [0, {dim})")
            elif per[0] != dim:
                return _invalid(f"classification output width {per[0]} != Output.Dimension {dim}")
    return CheckResult(status=CheckStatus.USABLE, reason="statistical check ok")


def check_statistical(
    package_dir: Path,
    model: ModelConfig,
    semantic: SemanticSpec,
    spec: RKMETableSpec,
    limits: SandboxLimits | None = None,
    seed: int = 0,
) -> CheckResult:
    """Full statistical check: spec sanity, then a sandboxed ``predict`` on random inputs."""
    err = spec_errors(semantic, spec)
    if err:
        return _invalid(err)
    rng = np.random.default_rng(seed)
    inputs = rng.standard_normal((PROBE_ROWS, *spec.feature_shape))
    probe = probe_model(package_dir, model.class_name, model.module_path, model.kwargs, inputs, limits or SandboxLimits())
    return judge_probe(semantic, spec, probe)
