"""The parts of Sedna's public API in ``sedna.common`` that scripts of each release import
(reference: sedna-sdk-api.md §2): present, and doing what the reference says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sedna.common.class_factory import ClassType
from sedna.common.config import BaseConfig, Config
from sedna.common.constant import K8sResourceKind, K8sResourceKindStatus, KBResourceConstant
from sedna.common.file_ops import FileOps
from sedna.common.log import LOGGER, Logger
from sedna.common.utils import model_layer_flatten, model_layer_reshape


def test_constants_have_sedna_values_and_act_as_strings() -> None:
    assert K8sResourceKind.INCREMENTAL_JOB.value == "incrementallearningjob"
    assert K8sResourceKind.REID_JOB.value == "reidjob"
    assert K8sResourceKindStatus.COMPLETED == "completed"  # what our own code compares with
    assert json.dumps({"kind": K8sResourceKind.LIFELONG_JOB}) == '{"kind": "lifelonglearningjob"}'
    assert f"{K8sResourceKind.DEFAULT}" == "default"
    assert KBResourceConstant.MIN_TRAIN_SAMPLE.value == 10
    assert KBResourceConstant.EDGE_KB_DIR.value == "/var/lib/sedna/kb"
    assert (ClassType.DATASET, ClassType.ALGORITHM, ClassType.MTL) == ("data_process", "algorithm", "multi_task_learening")


def test_config_from_mapping_json_and_files(tmp_path: Path) -> None:
    cfg = Config({"a": 1, "nested": {"b": 2}})
    assert cfg.a == 1 and cfg.nested.b == 2
    cfg.c = 3
    assert cfg["c"] == 3
    assert Config('{"x": [1, 2]}').x == [1, 2]
    (tmp_path / "c.yaml").write_text("model:\n  lr: 0.1\n")
    assert Config(str(tmp_path / "c.yaml")).model.lr == 0.1
    with pytest.raises(ValueError, match="not executed"):
        Config(str(tmp_path / "c.py"))
    with pytest.raises(ValueError, match="neither a config file nor JSON"):
        Config("nope")
    with pytest.raises(AttributeError, match="no key 'missing'"):
        _ = cfg.missing


def test_base_config_parameter_is_the_parsed_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAMETERS", '{"lr": 0.1}')
    assert BaseConfig.parameter == {"lr": 0.1} == BaseConfig.parameters


def test_logger_class_shares_the_sdk_logger() -> None:
    assert Logger().logger is LOGGER
    child = Logger(name="my-job").logger
    assert child.name == "sedna.my-job" and child.parent is LOGGER


def test_file_ops_helpers(tmp_path: Path) -> None:
    obj = {"w": [1.0, 2.0]}
    path = str(tmp_path / "o.pkl")
    FileOps.dump_pickle(obj, path)
    assert FileOps.load_pickle(path) == obj
    assert FileOps.pickle_string_to_obj(FileOps.obj_to_pickle_string(obj)) == obj
    assert FileOps.get_file_hash(path) and FileOps.get_file_hash(str(tmp_path / "none")) == ""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    FileOps.copy_folder(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert (tmp_path / "dst" / "a.txt").read_text() == "a"
    into = tmp_path / "into"
    into.mkdir()
    assert FileOps.copy_file(str(tmp_path / "src" / "a.txt"), str(into)) == str(into / "a.txt")
    assert FileOps.copy_file(str(tmp_path / "src" / "a.txt"), "") == str(tmp_path / "src" / "a.txt")


def test_model_layer_flatten_and_reshape_round_trip() -> None:
    layers = [np.arange(6.0).reshape(2, 3), np.array([7.0, 8.0])]
    flat = model_layer_flatten(layers)
    assert flat == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0]
    back = model_layer_reshape(flat, [(2, 3), layers[1]])
    assert [b.tolist() for b in back] == [layer.tolist() for layer in layers]
    with pytest.raises(ValueError, match="left over"):
        model_layer_reshape(flat, [(2, 3)])
