"""Federated learning written for each Sedna release, run with `sedna run` as users run it.

Every scenario (``scripts/<version>/fl``, plus ``head/fl_v2`` for ``FederatedLearningV2``/
``AggregationServerV2``) trains the digits of ``examples/federated_learning`` on three edge
trainers. Each must end Succeeded after the rounds its manifest asks for, report the real
sample count (1497 = 3 x 499; Sedna's ``len(train_data)`` is 2 for an ``(x, y)`` pair, so such
a job reported 6), leave one model file per trainer plus the aggregated model at the Model's
path, and reach the accuracy a real FedAvg reaches: every trainer ends with the same
aggregated model, whose test accuracy must clear 0.85 (chance on the ten digits is 0.1; the
runs reach 0.90-0.96).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sedna_operator.lc.models import OwnerKey
from sedna_operator.lc.sqlite_sink import SQLiteSink

from .support import VERSIONS, resource, run_scenario, scenario, stages, workers

pytestmark = pytest.mark.slow

CASES = [(v, "fl") for v in VERSIONS] + [("head", "fl_v2")]
EDGES = ("fl-edge1", "fl-edge2", "fl-edge3")
SAMPLES = 3 * 499
MIN_ACCURACY = 0.85


def _manifest(target: Path) -> dict[str, Any]:
    """The job's name, its rounds and the aggregation Model's path, from the manifest."""
    docs = list(yaml.safe_load_all((target / "federated-learning.yaml").read_text()))
    job = next(d for d in docs if d["kind"] == "FederatedLearningJob")
    model = next(d for d in docs if d["kind"] == "Model")
    agg_env = job["spec"]["aggregationWorker"]["template"]["spec"]["containers"][0]["env"]
    rounds = int(next(e["value"] for e in agg_env if e["name"] == "exit_round"))
    return {"job": job["metadata"]["name"], "rounds": rounds, "model": target / model["spec"]["url"]}


def _trainer_reports(state: Path, job: str) -> dict[str, list[Any]]:
    """Every report each trainer sent, in arrival order."""
    sink = SQLiteSink(state / "lc.db")
    try:
        log = sink.report_log(OwnerKey(namespace="default", kind="FederatedLearningJob", name=job))
    finally:
        sink.close()
    out: dict[str, list[Any]] = {}
    for report in log:
        if report.worker.startswith(f"{job}-train-"):
            out.setdefault(report.worker, []).append(report)
    return out


def _test_set(target: Path) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    images = load_digits().data / 16.0
    rows = [line.split() for line in (target / "data" / "test.txt").read_text().splitlines() if line.strip()]
    return images[[int(r[0]) for r in rows]], np.array([int(r[1]) for r in rows])


def _model_accuracy(path: Path, test: tuple[np.ndarray, np.ndarray]) -> float:
    """Test accuracy of a saved aggregated model: a joblib scikit-learn model, or the V2
    scenario's numpy weights."""
    x, y = test
    if path.suffix == ".npz":
        with np.load(path) as saved:
            scores = x @ saved["w"] + saved["b"]
        return float((scores.argmax(axis=1) == y).mean())
    import joblib

    return float(joblib.load(path).score(x, y))


@pytest.mark.parametrize(("version", "paradigm"), CASES, ids=[f"{v}-{p}" for v, p in CASES])
def test_federated_learning(version: str, paradigm: str, tmp_path: Path) -> None:
    target = scenario(version, paradigm, tmp_path, data_from="federated_learning")
    spec = _manifest(target)
    state = tmp_path / "state"
    run_scenario(target, state)

    status = resource(state, "FederatedLearningJob", spec["job"])["status"]
    assert status["phase"] == "Succeeded", status
    assert status["currentRound"] == spec["rounds"]
    assert ("Complete", "") in stages(status)
    rows = workers(state)
    assert sorted(w.role for w in rows) == ["aggregation", "train", "train", "train"]
    assert all(w.exit_code == 0 for w in rows), [(w.name, w.exit_code) for w in rows]

    reports = _trainer_reports(state, spec["job"])
    assert len(reports) == 3
    finals: list[float] = []
    for trainer, sent in reports.items():
        assert [r.owner_info["currentRound"] for r in sent] == list(range(1, spec["rounds"] + 1)), trainer
        assert [r.status for r in sent] == ["running"] * (spec["rounds"] - 1) + ["completed"]
        assert {r.owner_info["sampleCount"] for r in sent} == {SAMPLES}
        finals.append(float(sent[-1].results[0]["metrics"]["accuracy"]))
    # the same aggregated model everywhere: every trainer measured the same test accuracy
    assert max(finals) - min(finals) < 1e-9, finals

    model = spec["model"]
    own = [model.with_name(f"{model.stem}.{edge}{model.suffix}") for edge in EDGES]
    assert all(p.is_file() for p in own), sorted(p.name for p in model.parent.iterdir())
    accuracy = _model_accuracy(model, _test_set(target))
    print(f"Sedna {version} {paradigm}: {spec['rounds']} rounds, accuracy {accuracy:.3f}")
    assert accuracy == pytest.approx(finals[0])
    assert accuracy > MIN_ACCURACY

    metrics = resource(state, "Model", "fl-model")["status"]["metrics"]
    reported = {m["key"]: json.loads(m["value"]) for m in metrics}
    assert reported["accuracy"] == pytest.approx(accuracy)
