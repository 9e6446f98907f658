"""Config (lazy env), ClassFactory, logging and small helpers."""

from __future__ import annotations

import logging

import pytest

from sedna.common.class_factory import ClassFactory, ClassType, UnknownAlgorithmError
from sedna.common.config import BaseConfig, Context
from sedna.common.log import LOGGER, StructuredFormatter, get_logger, log_event, set_level
from sedna.common.utils import filter_kwargs, get_file_format, str_to_bool, to_float, to_int


def test_config_reads_env_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOB_NAME", raising=False)
    assert BaseConfig.job_name == "sedna"  # Sedna's default
    monkeypatch.setenv("JOB_NAME", "job-a")  # set after import: still seen
    assert BaseConfig.job_name == "job-a"
    monkeypatch.setenv("JOB_NAME", "job-b")
    assert BaseConfig.job_name == "job-b"
    BaseConfig.job_name = "override"
    assert BaseConfig.job_name == "override"
    BaseConfig.reset()
    assert BaseConfig.job_name == "job-b"


def test_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("BACKEND_TYPE", "DATA_PATH_PREFIX", "LC_SERVER"):
        monkeypatch.delenv(env, raising=False)
    assert BaseConfig.backend_type == "TENSORFLOW"
    assert BaseConfig.data_path_prefix == "/home/data"
    assert BaseConfig.lc_server == "http://127.0.0.1:9100"
    with pytest.raises(AttributeError):
        _ = BaseConfig.no_such_setting


def test_context_parameters_and_algorithm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("epochs", "3")
    monkeypatch.setenv("PARAMETERS", '{"batch_size": 8}')
    assert Context.get_parameters("epochs") == "3"
    assert Context.get_parameters("batch_size") == 8
    assert Context.get_parameters("missing", "d") == "d"
    monkeypatch.setenv("HEM_NAME", "CrossEntropy")
    monkeypatch.setenv("HEM_PARAMETERS", '[{"key": "threshold_cross_entropy", "value": "0.9"}]')
    assert Context.get_algorithm_from_api("HEM") == {
        "method": "CrossEntropy",
        "param": {"threshold_cross_entropy": "0.9"},
    }


def test_class_factory_unknown_alias_lists_known() -> None:
    import sedna.algorithms.hard_example_mining  # noqa: F401  (registers the filters)

    with pytest.raises(UnknownAlgorithmError) as err:
        ClassFactory.get_cls(ClassType.HEM, "CrossEntropyy")
    message = str(err.value)
    assert "'CrossEntropyy'" in message
    for alias in ("CrossEntropy", "IBT", "Threshold", "Random", "CloudOnly", "EdgeOnly"):
        assert alias in message


def test_class_factory_register_and_override() -> None:
    @ClassFactory.register(ClassType.GENERAL, alias="sdk-test-thing")
    class Thing:
        pass

    assert ClassFactory.get_cls(ClassType.GENERAL, "sdk-test-thing") is Thing
    assert ClassFactory.is_exists(ClassType.GENERAL, "sdk-test-thing")
    assert "sdk-test-thing" in ClassFactory.aliases(ClassType.GENERAL)


def test_structured_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    record = logging.LogRecord("sedna.x", logging.INFO, __file__, 1, "hello world", None, None)
    record.fields = {"url": "http://a/b", "n": 3}
    line = StructuredFormatter().format(record)
    assert 'msg="hello world"' in line and "url=http://a/b" in line and "n=3" in line
    assert "level=INFO" in line and "logger=sedna.x" in line


def test_log_level_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        monkeypatch.delenv("LOG_LEVEL", raising=False)
        set_level()
        assert LOGGER.level == logging.WARNING  # quiet by default
        monkeypatch.setenv("LOG_LEVEL", "debug")
        set_level()
        assert LOGGER.level == logging.DEBUG
        assert get_logger("child").getEffectiveLevel() == logging.DEBUG
        log_event(get_logger("child"), logging.DEBUG, "event", k="v")
    finally:
        monkeypatch.delenv("LOG_LEVEL", raising=False)
        set_level()


def test_a_serving_worker_logs_progress_at_info(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server's start() (the aggregator's main loop) raises the quiet default to INFO, so
    `kubectl logs` shows its rounds; an explicit LOG_LEVEL wins."""
    from sedna.service.server.base import BaseServer

    monkeypatch.setattr("uvicorn.Server.run", lambda self: None)
    server = BaseServer.__new__(BaseServer)
    monkeypatch.setattr(BaseServer, "_config", lambda self: None)
    try:
        monkeypatch.delenv("LOG_LEVEL", raising=False)
        set_level()
        server.start()
        assert LOGGER.level == logging.INFO
        monkeypatch.setenv("LOG_LEVEL", "error")
        set_level()
        server.start()
        assert LOGGER.level == logging.ERROR
    finally:
        monkeypatch.delenv("LOG_LEVEL", raising=False)
        set_level()


def test_utils() -> None:
    assert get_file_format("/a/b/Model.PTH") == "pth"
    assert get_file_format("/a/b/") == "b"[0:0]
    assert str_to_bool("Yes") is True and str_to_bool("0") is False
    with pytest.raises(ValueError):
        str_to_bool("maybe")
    assert to_float("0.25", "t") == 0.25
    assert to_int("3.0", "n") == 3
    with pytest.raises(ValueError, match="'n'"):
        to_int("3.5", "n")
    with pytest.raises(ValueError, match="'t'"):
        to_float("abc", "t")

    def f(a: int, b: int = 0) -> None:
        pass

    assert filter_kwargs(f, {"b": 1, "c": 2}) == {"b": 1}


def test_builtins_found_without_importing_their_package() -> None:
    import subprocess
    import sys

    code = (
        "from sedna.common.class_factory import ClassFactory, ClassType\n"
        "assert ClassFactory.get_cls(ClassType.FL_AGG, 'FedAvg').__name__ == 'FedAvg'\n"
        "assert 'Krum' in ClassFactory.aliases(ClassType.FL_AGG)\n"
        "assert ClassFactory.get_cls(ClassType.HEM, 'IBT').__name__ == 'IBTFilter'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_an_empty_parameter_is_unset_as_in_sedna(monkeypatch: pytest.MonkeyPatch) -> None:
    # a manifest's `value: ""` must give the script's default, not "" (int("") fails)
    monkeypatch.setenv("epochs", "")
    monkeypatch.setenv("EPOCHS", "")
    assert Context.get_parameters("epochs", 5) == 5
    monkeypatch.setenv("EPOCHS", "7")  # the upper-case fallback still applies
    assert Context.get_parameters("epochs", 5) == "7"
    monkeypatch.setenv("PARAMETERS", '{"lr": ""}')
    assert Context.get_parameters("lr", "0.1") == "0.1"


def test_keyword_parameters_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEM_NAME", "IBT")
    monkeypatch.setenv("HEM_PARAMETERS", '[{"key": "threshold_img", "value": "0.5"}, {"key": "threshold_box", "value": "0.3"}]')
    got = Context.get_algorithm_from_api("HEM", threshold_img=0.9)
    assert got == {"method": "IBT", "param": {"threshold_img": 0.9, "threshold_box": "0.3"}}
    # Sedna 0.3 also wrote the list as pairs
    monkeypatch.setenv("HEM_PARAMETERS", '[["threshold_img", "0.7"]]')
    assert Context.get_algorithm_from_api("HEM")["param"] == {"threshold_img": "0.7"}
    monkeypatch.setenv("HEM_PARAMETERS", '{"threshold_img": 0.8')
    with pytest.raises(ValueError, match="HEM_PARAMETERS is not valid JSON"):
        Context.get_algorithm_from_api("HEM")


def test_parse_param_accepts_every_released_spelling() -> None:
    from sedna.common.utils import parse_param

    assert parse_param(None) == {} and parse_param("") == {}
    assert parse_param({"a": 1}) == {"a": 1}
    assert parse_param('{"attribute": ["season"]}') == {"attribute": ["season"]}
    assert parse_param([{"key": "k", "value": "v"}, ("n", 2)]) == {"k": "v", "n": 2}
    with pytest.raises(ValueError, match="task_definition_param"):
        parse_param("[1, 2]", "task_definition_param")
    with pytest.raises(ValueError, match="must be a mapping"):
        parse_param(3.5)
