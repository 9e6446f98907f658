"""Hot update: a container path in ``model_config.json`` that does not exist locally falls back to
the file of that name beside the config file (the hot-update dir mounted somewhere else)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from sedna.core.base import ModelLoadingThread
from sedna.core.incremental_learning import IncrementalLearning
from tests.sdk_core.sdk_models import SoftmaxEstimator


def _const_model(path: Path, label: int) -> Path:
    """A softmax model that always answers ``label``."""
    with path.open("wb") as fh:
        pickle.dump({"W": np.zeros((64, 10)), "b": np.eye(10)[label] * 10}, fh)
    return path


def _write_config(conf: Path, model_path: str, version: str) -> None:
    conf.write_text(json.dumps({"model_config": {"model_path": model_path, "model_update_time": version}}))


@pytest.fixture
def hot_dir(tmp_path: Path, fake_lc, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "state" / "model-hot-update"
    directory.mkdir(parents=True)
    monkeypatch.setenv("JOB_NAME", "il-demo")
    monkeypatch.setenv("WORKER_NAME", "il-demo-inference-x1")
    monkeypatch.setenv("MODEL_URL", str(_const_model(tmp_path / "initial.pkl", 1)))
    monkeypatch.setenv("MODEL_HOT_UPDATE_CONFIG", str(directory / "model_config.json"))
    return directory


def test_container_path_falls_back_to_the_config_directory(hot_dir: Path, fake_lc) -> None:
    _const_model(hot_dir / "model.pkl", 7)
    _write_config(hot_dir / "model_config.json", "/model-hot-update/model.pkl", "v1")
    il = IncrementalLearning(estimator=SoftmaxEstimator())
    assert il.inference(np.zeros((1, 64)))[0].tolist() == [1]
    thread = ModelLoadingThread(il, period=60)
    assert thread.check_once()
    assert il.inference(np.zeros((1, 64)))[0].tolist() == [7]
    deploy = fake_lc.of_kind("deploy")[-1]
    assert deploy["status"] == "completed"
    assert deploy["results"][0]["url"] == str(hot_dir / "model.pkl")


def test_an_existing_path_is_used_as_written(hot_dir: Path, tmp_path: Path) -> None:
    elsewhere = _const_model(tmp_path / "elsewhere.pkl", 4)
    _const_model(hot_dir / "elsewhere.pkl", 9)  # same name beside the config: not used
    _write_config(hot_dir / "model_config.json", str(elsewhere), "v1")
    il = IncrementalLearning(estimator=SoftmaxEstimator())
    thread = ModelLoadingThread(il, period=60)
    assert thread.resolve_model_path(str(elsewhere)) == str(elsewhere)
    assert thread.check_once()
    assert il.inference(np.zeros((1, 64)))[0].tolist() == [4]


def test_missing_everywhere_reports_failed(hot_dir: Path, fake_lc) -> None:
    _write_config(hot_dir / "model_config.json", "/model-hot-update/absent.pkl", "v1")
    il = IncrementalLearning(estimator=SoftmaxEstimator())
    thread = ModelLoadingThread(il, period=60)
    assert thread.resolve_model_path("/model-hot-update/absent.pkl") == "/model-hot-update/absent.pkl"
    assert thread.resolve_model_path("/model-hot-update/") == "/model-hot-update/"
    assert not thread.check_once()
    assert fake_lc.of_kind("deploy")[-1]["status"] == "failed"
    assert il.inference(np.zeros((1, 64)))[0].tolist() == [1]  # the old model keeps serving
