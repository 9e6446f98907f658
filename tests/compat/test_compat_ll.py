"""Lifelong learning written for every Sedna release, run with `sedna run` as users run it.

Each scenario (``tests/compat/scripts/<version>/ll/``) holds train/eval/inference scripts in the
style of that release (0.3: string methods and ``*_param`` JSON strings; 0.4/0.5: dicts with
``task_mining`` / ``unseen_task_detect``; 0.6/0.7: positional ``seen_estimator``,
``task_allocation``, a callable ``unseen_estimator`` and 0.6's return shapes; head: the mix of
pitfall 10) and one manifest. The data is atcii-like thermal comfort, written here as CSV:
the ``Season`` and ``Cooling startegy_building level`` attribute columns define the tasks, and
the comfort label flips with the season, so per-season models score high where one model for
all cannot. The probe the inference worker answers adds a ``Monsoon`` season nobody trained
on: an unseen task.

Every scenario must train, evaluate and deploy; the knowledge base holds the two season
models; the LC's round file is ``data.csv`` with the dataset's header; the task models never
saw the attribute columns; and the answers meet quality thresholds that fail without
learning: seen-task accuracy and the unseen-task F1.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.compat.support import VERSIONS, resource, run_scenario, scenario, stages, workers

pytestmark = pytest.mark.slow

FEATURES = [
    "Air temperature (C)",
    "Relative humidity (%)",
    "Air velocity (m/s)",
    "Clo",
    "Met",
    "Outdoor monthly air temperature (C)",
]
ATTRIBUTES = ["Season", "Cooling startegy_building level"]
LABEL = "Thermal preference"
HEADER = [*FEATURES, *ATTRIBUTES, LABEL]
CENTER = np.array([24.0, 50.0, 0.2, 0.7, 1.2, 20.0])
SCALE = np.array([3.0, 15.0, 0.1, 0.3, 0.2, 6.0])
SEASON_MODELS = {"Summer_1.0", "Winter_1.0"}  # Sedna's entries: values joined by "_"
MIN_SEEN_ACCURACY = 0.85  # one model for both seasons scores about 0.4
MIN_UNSEEN_F1 = 0.8


def _rows(rng: np.random.Generator, weights: np.ndarray, n: int, season: str, shift: float = 0.0) -> list[list[str]]:
    """``n`` samples of ``season``: the comfort vote (1, 2 or 3, as atcii codes it; its
    ``feature_process`` turns a 0 into 1) is the argmax of ``z @ W`` (``-W`` in winter)."""
    z = rng.normal(size=(n, len(FEATURES)))
    sign = -1.0 if season == "Winter" else 1.0
    labels = 1 + (sign * z @ weights + rng.normal(0, 0.1, size=(n, 3))).argmax(1)
    z[:, :3] += shift
    x = CENTER + SCALE * z
    return [[*(f"{v:.3f}" for v in row), season, "1", str(label)] for row, label in zip(x, labels, strict=True)]


def write_data(target: Path) -> None:
    """``data/train.csv`` (the Dataset: 400 Summer + 400 Winter) and ``data/probe.csv`` (what the
    inference worker answers: 30 of each season, then 30 of an unseen Monsoon season)."""
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(len(FEATURES), 3))
    train = _rows(rng, weights, 400, "Summer") + _rows(rng, weights, 400, "Winter")
    train = [train[i] for i in rng.permutation(len(train))]
    probe = _rows(rng, weights, 30, "Summer") + _rows(rng, weights, 30, "Winter")
    probe += _rows(rng, weights, 30, "Monsoon", shift=6.0)
    (target / "data").mkdir(exist_ok=True)
    for name, rows in (("train.csv", train), ("probe.csv", probe)):
        with open(target / "data" / name, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows([HEADER, *rows])


def _answers(target: Path) -> tuple[float, float]:
    """(seen-task accuracy, unseen-task F1) of the inference worker's output file."""
    with open(target / "data" / "probe.csv_out.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(rows) == 90, len(rows)
    truth = np.array([r["Season"] == "Monsoon" for r in rows])
    flagged = np.array([r["unseen"] == "1" for r in rows])
    hits = np.array([r["prediction"] == r[LABEL] for r in rows])
    tp = int((truth & flagged).sum())
    f1 = 2 * tp / (2 * tp + int((truth != flagged).sum()))
    return float(hits[~truth].mean()), f1


@pytest.mark.parametrize("version", VERSIONS)
def test_lifelong_learning_scripts_of_every_release(version: str, tmp_path: Path) -> None:
    target = scenario(version, "ll", tmp_path)
    write_data(target)
    state = tmp_path / "state"
    run_scenario(target, state)
    status = resource(state, "LifelongLearningJob", "compat-ll")["status"]
    done = stages(status)
    for stage in ("Train", "Eval", "Deploy"):
        assert ("Completed", stage) in done, done
    kb = status["knowledgeBase"]["AIModels"]
    assert {m["modelID"] for m in kb["listOfAIModels"]} == SEASON_MODELS, kb
    inference = {w.role: w for w in workers(state)}["inference"]
    assert inference.phase == "Succeeded", Path(inference.log_path).read_text()[-3000:]

    # the LC wrote Sedna's CSV round file: data.csv, starting with the dataset's header line
    round_file = target / "output" / "data" / "train" / "1" / "data.csv"
    assert round_file.read_text().splitlines()[0] == ",".join(HEADER)
    assert len(round_file.read_text().splitlines()) == 1 + 640  # header + 0.8 x 800 samples

    # the task models were trained without the attribute columns (Sedna drops them)
    models = sorted((target / "output" / "train" / "1" / "models").glob("*.model"))
    assert len(models) == 3  # two seasons + the global model
    for path in models:
        with open(path, "rb") as fh:
            assert pickle.load(fh).n_features_in_ == len(FEATURES), path

    # quality: the eval worker's report and the inference worker's answers
    evaluated = next(c for c in reversed(status["conditions"]) if c.get("stage") == "Eval" and c["type"] == "Completed")
    result = _eval_result(evaluated)
    assert set(result["metrics"]) == SEASON_MODELS
    assert min(result["metrics"].values()) >= MIN_SEEN_ACCURACY, result
    assert result["quality"]["seen_task_accuracy"] >= MIN_SEEN_ACCURACY, result
    accuracy, f1 = _answers(target)
    print(f"Sedna {version}: eval {result['metrics']}, inference seen-task accuracy {accuracy:.3f}, unseen F1 {f1:.3f}")
    assert accuracy >= MIN_SEEN_ACCURACY and f1 >= MIN_UNSEEN_F1, (accuracy, f1)


def _eval_result(condition: dict) -> dict:
    import json

    data = condition.get("data")
    data = json.loads(data) if isinstance(data, str) else data
    return data["output"]["models"][0]
