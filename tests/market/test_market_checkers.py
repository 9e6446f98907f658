"""Every checker outcome, including crashing, hanging and garbage-returning models."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from sedna_market.checkers.sandbox import SandboxLimits
from sedna_market.checkers.semantic_checker import check_semantic_spec
from sedna_market.checkers.stat_checker import check_statistical
from sedna_market.package import read_package, safe_extract
from sedna_market.spec.semantic import SemanticSpec
from sedna_market.status import CheckResult, CheckStatus, merge_results

LIMITS = SandboxLimits(timeout_s=4.0, memory_mb=1024, cpu_s=10)


def run_check(make_package, semantic, kind: str, **sem_kwargs) -> CheckResult:
    with tempfile.TemporaryDirectory() as tmp:
        safe_extract(make_package(kind), Path(tmp))
        root, info = read_package(Path(tmp))
        return check_statistical(root, info.model, semantic(**sem_kwargs), info.stat_spec, LIMITS)


def test_semantic_checker_valid(semantic) -> None:
    res = check_semantic_spec(semantic())
    assert res.status == CheckStatus.NONUSABLE


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["Data"].update(Values=["Video"]), "outside the vocabulary"),
        (lambda d: d["Task"].update(Values=["Regression", "Classification"]), "exactly one"),
        (lambda d: d["Scenario"].update(Values=[]), "at least one"),
        (lambda d: d["Name"].update(Values="  "), "non-empty"),
        (lambda d: d["License"].update(Type="Tag"), "Type must be"),
        (lambda d: d.pop("Input"), "Input description is required"),
        (lambda d: d["Input"]["Description"].update({"7": "x"}), "not an index"),
        (lambda d: d["Output"].update(Dimension=1), "Output.Dimension must be >= 2"),
    ],
)
def test_semantic_checker_invalid(semantic, mutate, message) -> None:
    d = semantic().to_dict()
    mutate(d)
    res = check_semantic_spec(SemanticSpec.from_dict(d))
    assert res.status == CheckStatus.INVALID and message in res.reason


def test_merge_results() -> None:
    ok = CheckResult(status=CheckStatus.USABLE, reason="a")
    sem = CheckResult(status=CheckStatus.NONUSABLE, reason="b")
    bad = CheckResult(status=CheckStatus.INVALID, reason="c")
    assert merge_results([sem, ok]).status == CheckStatus.USABLE
    assert merge_results([sem, bad, ok]) == bad


def test_good_model_is_usable(make_package, semantic) -> None:
    res = run_check(make_package, semantic, "good")
    assert res.status == CheckStatus.USABLE, res.reason


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("crash", "died with exit code"),
        ("raise", "RuntimeError: boom"),
        ("hang", "did not finish within"),
        ("garbage", "non-numeric"),
        ("wrong_rows", "returned 3 rows"),
        ("wrong_width", "Output.Dimension"),
        ("memory_hog", "MemoryError"),
    ],
)
def test_bad_models_are_invalid(make_package, semantic, kind, message) -> None:
    res = run_check(make_package, semantic, kind)
    assert res.status == CheckStatus.INVALID
    assert message in res.reason


def test_missing_dependency_is_nonusable(make_package, semantic) -> None:
    res = run_check(make_package, semantic, "missing_dep")
    assert res.status == CheckStatus.NONUSABLE and "surely_not_installed_pkg_xyz" in res.reason


def test_dimension_mismatch_is_invalid(make_package, semantic) -> None:
    res = run_check(make_package, semantic, "good", dim=7)
    assert res.status == CheckStatus.INVALID and "Input.Dimension" in res.reason


def test_regression_checks_width(make_package, semantic) -> None:
    res = run_check(make_package, semantic, "good", task="Regression", n_classes=2)
    assert res.status == CheckStatus.INVALID and "regression output width" in res.reason


@pytest.mark.parametrize(
    ("yaml_cfg", "message"),
    [
        # issue 12 item 10: wrongly typed learnware.yaml fields were a 500
        ({"model": ["Model"]}, "learnware.yaml is invalid: model"),
        ({"model": {"class_name": "Model", "kwargs": "x"}}, "model.kwargs"),
        ({"name": {"a": 1}}, "learnware.yaml is invalid: name"),
        ({"stat_specifications": "stat_spec.json"}, "stat_specifications"),
        ({"stat_specifications": [["RKMETableSpecification"]]}, "stat_specifications.0"),
        # issue 12 item 6: a spec file_name naming a server file
        ({"stat_specifications": [{"class_name": "RKMETableSpecification", "file_name": "/etc/hostname"}]},
         "must be a path inside the package"),
        ({"stat_specifications": [{"class_name": "RKMETableSpecification", "file_name": "../../x.json"}]},
         "must be a path inside the package"),
    ],
)
def test_bad_learnware_yaml_is_a_package_error(make_package, yaml_cfg, message) -> None:
    from sedna_market.package import PackageError

    with tempfile.TemporaryDirectory() as tmp:
        safe_extract(make_package("good", yaml_cfg=yaml_cfg), Path(tmp))
        with pytest.raises(PackageError, match=message.replace(".", r"\.").replace("[", r"\[")):
            read_package(Path(tmp))
