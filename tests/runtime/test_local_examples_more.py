"""Full loop: `sedna run` of the joint inference, incremental and lifelong learning examples.

Each example runs from a copy (its ``output/`` and state stay in ``tmp_path``) to its end
state with real workers; the final status, the workers' reports and logs are checked. Wall
times are printed (``pytest -s``) and quoted in docs/local-runtime.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sedna_operator.runtime.local.session import state_host_path
from sedna_operator.runtime.local.store import Store, WorkerRow

from .examples_support import copy_example, run_example, worker_logs

pytestmark = pytest.mark.slow


def _run(example: Path, state: Path, timeout: float = 150) -> float:
    """`sedna run` the example to its end; returns the wall time."""
    done, wall = run_example(example, state, timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sedna run: finished" in done.stdout, done.stdout + worker_logs(state)
    return wall


def _resource(state: Path, kind: str, name: str) -> dict[str, Any]:
    row = Store(state).get(kind, "default", name)
    assert row is not None
    return row.obj


def _workers(state: Path) -> dict[str, WorkerRow]:
    return {w.role: w for w in Store(state).workers()}


def _stages(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["type"], c.get("stage", "")) for c in status.get("conditions") or []]


def test_joint_inference_example(tmp_path: Path) -> None:
    example = copy_example("joint_inference", tmp_path)
    state = tmp_path / "state"
    wall = _run(example, state)
    print(f"joint_inference wall time: {wall:.1f}s")
    status = _resource(state, "JointInferenceService", "digits-ji")["status"]
    metrics = {m["key"]: json.loads(m["value"]) for m in status["metrics"]}
    assert metrics["inferenceNumber"] == 300
    assert 0 < metrics["uploadCloudRatio"] < 1
    assert metrics["hardExampleNumber"] == round(metrics["uploadCloudRatio"] * 300)
    assert metrics["cloudFailureNumber"] == 0  # every hard example was answered by the cloud
    assert ("Running", "") in _stages(status)
    # The big model's readiness probe, tried on the port its Service got here: Ready came and,
    # once the edge worker's stream ended, went.
    reasons = [e.reason for e in Store(state).events("JointInferenceService", "default", "digits-ji")]
    assert "WorkersReady" in reasons and reasons.index("WorkersReady") < reasons.index("EdgeWorkerNotReady")
    ready = status["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "EdgeWorkerNotReady")
    assert status["cloudServiceURL"] == "http://digits-ji-cloud.default:5000"
    workers = _workers(state)
    assert workers["edge"].phase == "Succeeded" and workers["edge"].exit_code == 0
    summary = next(
        line
        for line in Path(workers["edge"].log_path).read_text().splitlines()
        if line.startswith("SUMMARY ")
    )
    result = json.loads(summary.removeprefix("SUMMARY "))
    assert result["joint_accuracy"] > result["edge_accuracy"]  # the big model helped
    # ... nearly as much as sending everything would have, for a fraction of the traffic
    assert result["joint_accuracy"] >= result["cloud_accuracy"] - 0.03
    assert result["cloud_ratio"] == metrics["uploadCloudRatio"]


def test_incremental_learning_example(tmp_path: Path) -> None:
    example = copy_example("incremental_learning", tmp_path)
    state = tmp_path / "state"
    wall = _run(example, state)
    print(f"incremental_learning wall time: {wall:.1f}s")
    job = _resource(state, "IncrementalLearningJob", "digits-il")
    status = job["status"]
    stages = _stages(status)
    for stage in ("Train", "Eval", "Deploy"):
        assert ("Completed", stage) in stages, stages
    assert stages[-1] == ("Completed", "Deploy")
    assert status["round"] == 1 and status.get("completionTime")
    assert status["conditions"][-1]["reason"] == "HotUpdated"
    trained = example / "output" / "train" / "1" / "model.json"
    assert trained.is_file()
    assert status["controllerState"]["deployedModel"] == str(trained)
    # the LC's hot-update copy and config (in the state dir), as the worker sees them
    config = Path(state_host_path(state)(job["metadata"]["annotations"]["sedna.io/model-hot-update-config"]))
    model_config = json.loads(config.read_text())["model_config"]
    assert model_config["model_path"] == "/model-hot-update/model.json"
    assert (config.parent / "model.json").read_bytes() == trained.read_bytes()
    # the inference worker loaded it (its deploy report completed the stage) and served it
    log = Path(_workers(state)["inference"].log_path).read_text()
    assert "model updates 1" in log
    better = [line for line in log.splitlines() if line.startswith("serving the hot-updated model")]
    first = next(line for line in log.splitlines() if line.startswith("pass 1:"))
    assert better and float(better[0].split()[-1]) > float(first.split()[3].rstrip(","))


def test_lifelong_learning_example(tmp_path: Path) -> None:
    example = copy_example("lifelong_learning", tmp_path)
    state = tmp_path / "state"
    wall = _run(example, state)
    print(f"lifelong_learning wall time: {wall:.1f}s")
    status = _resource(state, "LifelongLearningJob", "digits-ll")["status"]
    stages = _stages(status)
    for stage in ("Train", "Eval", "Deploy"):
        assert ("Completed", stage) in stages, stages
    assert status["round"] == 1 and status.get("completionTime")
    kb = status["knowledgeBase"]
    assert kb["AIModels"]["numberOfAIModels"] == 2
    assert sorted(m["modelID"] for m in kb["AIModels"]["listOfAIModels"]) == ["inverted", "plain"]
    assert (example / "output" / "deploy" / "index.pkl").is_file()  # the LC's deploy copy
    inference = _workers(state)["inference"]
    assert inference.phase == "Succeeded" and inference.exit_code == 0
    log = Path(inference.log_path).read_text()
    assert "unseen task detected" in log
    assert "done: 120 samples, 40 unseen" in log  # the noisy domain, and only it
    assert list((example / "output" / "unseen").glob("unseen-*.pkl"))
