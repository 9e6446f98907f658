"""Statistical checker: spec sanity, then the model run in a sandbox on generated inputs.

Probe inputs follow learnware's checker, by spec type: a table model gets 10 standard-normal rows
of the spec's feature shape; a text model gets 10 strings (:data:`PROBE_SENTENCES` and random
printable strings of 10-1000 characters) as a list of ``str``; an image model gets 10 random images
(integer pixel values 0-255) of the ``input_shape`` it declares (:class:`~.sandbox.ImageProbe`).
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np

from ..package import ModelConfig
from ..spec.image import IMAGE_SPEC_TYPE
from ..spec.rkme import SPEC_TYPE, RKMETableSpec
from ..spec.semantic import SemanticSpec
from ..spec.text import TEXT_SPEC_TYPE
from ..status import CheckResult, CheckStatus
from .sandbox import ImageProbe, ProbeResult, SandboxLimits, probe_model
from .semantic_checker import spec_type_error

PROBE_ROWS = 10
#: the natural half of a text model's probe (the other half is random printable strings)
PROBE_SENTENCES = (
    "The quarterly report shows revenue growing faster than costs.",
    "Please reset my password, the login page keeps failing.",
    "A light rain is expected in the afternoon with mild winds.",
    "The striker scored twice in the second half of the match.",
    "Mix the flour and butter before adding two eggs.",
)


def _invalid(reason: str) -> CheckResult:
    return CheckResult(status=CheckStatus.INVALID, reason="statistical check: " + reason)


def spec_errors(semantic: SemanticSpec, spec: RKMETableSpec) -> str | None:
    """Checks that need no model run: finite self-distance and matching input dimension."""
    if not np.isfinite(spec.self_inner_prod()):
        return "RKME self distance is not finite"
    err = spec_type_error(semantic, spec.type)
    if err:
        return err
    if semantic.first("Data") == "Table" and semantic.Input is not None and spec.type == SPEC_TYPE:
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
    # a text or image spec describes encoder outputs, not the model's input: nothing to compare
    if spec.type == SPEC_TYPE and probe.input_shape is not None and probe.input_shape != spec.feature_shape:
        return _invalid(f"model input_shape {probe.input_shape} != spec feature shape {spec.feature_shape}")
    out = probe.outputs
    assert out is not None
    if out.ndim == 0 or len(out) != PROBE_ROWS:
        what = {TEXT_SPEC_TYPE: "texts", IMAGE_SPEC_TYPE: "images"}.get(spec.type, "rows")
        return _invalid(f"predict on {PROBE_ROWS} {what} returned {0 if out.ndim == 0 else len(out)} rows")
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


def probe_texts(seed: int = 0, rows: int = PROBE_ROWS) -> list[str]:
    """The strings a text model is probed with: the fixed sentences, then random printable
    strings of 10-1000 characters (letters, digits, punctuation, as learnware's checker)."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(string.ascii_letters + string.digits + string.punctuation + " "))
    out = list(PROBE_SENTENCES[:rows])
    while len(out) < rows:
        out.append("".join(rng.choice(alphabet, size=int(rng.integers(10, 1001)))))
    return out


def probe_inputs(spec: RKMETableSpec, seed: int = 0) -> np.ndarray | ImageProbe:
    """Probe inputs for a model described by ``spec`` (see the module docstring)."""
    if spec.type == TEXT_SPEC_TYPE:
        return np.array(probe_texts(seed), dtype=str)
    if spec.type == IMAGE_SPEC_TYPE:
        return ImageProbe(rows=PROBE_ROWS, seed=seed)
    return np.random.default_rng(seed).standard_normal((PROBE_ROWS, *spec.feature_shape))


def check_statistical(
    package_dir: Path,
    model: ModelConfig,
    semantic: SemanticSpec,
    spec: RKMETableSpec,
    limits: SandboxLimits | None = None,
    seed: int = 0,
) -> CheckResult:
    """Full statistical check: spec sanity, then a sandboxed ``predict`` on generated inputs
    (:func:`probe_inputs`)."""
    err = spec_errors(semantic, spec)
    if err:
        return _invalid(err)
    inputs = probe_inputs(spec, seed)
    probe = probe_model(package_dir, model.class_name, model.module_path, model.kwargs, inputs, limits or SandboxLimits())
    return judge_probe(semantic, spec, probe)
