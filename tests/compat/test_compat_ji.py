"""Joint inference scripts written for each Sedna release run unchanged through `sedna run`.

Each scenario (``tests/compat/scripts/<version>/ji``) is a little-model edge worker and a
big-model cloud worker written the way that release's users write them (see each script's
docstring), on the joint-inference example's digits, models and 300-sample stream. The edge
worker infers the stream, prints a SUMMARY line and exits 0, which ends the service.

What is checked, beyond a clean finish: the LC saw every inference; exactly the samples the
version's hard example mining selects (computed here from the little model, so a HEM given by
the manifest, a dict, keywords or a registered name that is not applied as that release
applies it fails the test) went to the cloud, which answered each of them; and the joint
accuracy beats the edge model alone. A convention the SDK does not accept makes a worker
fail, so the run does not finish and the test fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from tests.compat.support import (
    VERSIONS,
    confidence,
    probabilities,
    resource,
    run_scenario,
    scenario,
    workers,
)
from tests.runtime.examples_support import REPO

pytestmark = pytest.mark.slow

DATA = REPO / "examples" / "joint_inference"


def _stream() -> tuple[np.ndarray, np.ndarray]:
    """(little-model probabilities, labels) of the stream the edge worker infers."""
    rows = [line.split() for line in (DATA / "data" / "stream.txt").read_text().splitlines() if line.strip()]
    index, labels = np.array([int(r[0]) for r in rows]), np.array([int(r[1]) for r in rows])
    images = load_digits().data / 16.0
    return probabilities(DATA / "model" / "little.json", images[index]), labels


#: the stream samples each scenario's hard example mining sends to the cloud
HARD: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    # IBT named by HEM_NAME/HEM_PARAMETERS only (threshold_box 0.7), on post_process's boxes
    "0.3": lambda p: p.max(axis=1) <= 0.7,
    # IBT: the manifest's threshold_img 1.0 (all hard) overridden by the script's keyword 0.9
    "0.4": lambda p: p.max(axis=1) <= 0.7,
    # CrossEntropy from the script's dict (0.5); the manifest's 0.9 is not used
    "0.5": lambda p: confidence(p) < 0.5,
    # Threshold 0.6 from the manifest, judging the probability vector post_process keeps
    "0.6": lambda p: p.max(axis=1) < 0.6,
    # IBT from the script's dict (box 0.65) on the probability list predict returns; not the manifest's 0.99
    "0.7": lambda p: p.max(axis=1) <= 0.65,
    # the registered DigitRouter (threshold 0.6) judging the input, mining-then-inference
    "head": lambda p: p.max(axis=1) < 0.6,
}


def _summary(log: str) -> dict[str, float]:
    line = next(line for line in log.splitlines() if line.startswith("SUMMARY "))
    return json.loads(line.removeprefix("SUMMARY "))


@pytest.mark.parametrize("version", VERSIONS)
def test_joint_inference_scripts_of_each_release(version: str, tmp_path: Path) -> None:
    target = scenario(version, "ji", tmp_path, data_from="joint_inference")
    state = tmp_path / "state"
    started = time.monotonic()
    run_scenario(target, state, timeout=90)
    print(f"Sedna {version} joint inference: {time.monotonic() - started:.1f}s")

    probabilities, labels = _stream()
    hard = int(HARD[version](probabilities).sum())
    assert 0 < hard < len(labels)
    status = resource(state, "JointInferenceService", "compat-ji")["status"]
    metrics = {m["key"]: json.loads(m["value"]) for m in status["metrics"]}
    assert metrics["inferenceNumber"] == len(labels)  # the last period too: reported at exit
    assert metrics["hardExampleNumber"] == hard
    assert 0 < metrics["uploadCloudRatio"] < 1
    assert metrics["uploadCloudRatio"] == pytest.approx(hard / len(labels))
    assert metrics["cloudFailureNumber"] == 0  # the big model answered every hard example

    edge = next(w for w in workers(state) if w.role == "edge")
    assert edge.phase == "Succeeded" and edge.exit_code == 0
    summary = _summary(Path(edge.log_path).read_text())
    assert summary["inferences"] == len(labels)
    assert summary["hard_examples"] == hard  # each read back from the cloud's answer
    assert summary["edge_accuracy"] == pytest.approx(float((probabilities.argmax(axis=1) == labels).mean()))
    assert summary["joint_accuracy"] > summary["edge_accuracy"]  # the big model helped
