"""The `sedna` command's foundation sub-commands, run through typer's runner."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from sedna_operator.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_validate_accepts_every_sample(conformance_dir: Path) -> None:
    result = runner.invoke(app, ["validate", str(conformance_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "8 valid resource(s)" in result.output
    assert "train[edge1-surface-defect-detection-dataset]@edge1" in result.output


def test_validate_reports_field_paths_and_exits_1(tmp_path: Path, conformance_dir: Path) -> None:
    doc = yaml.safe_load((conformance_dir / "incrementallearningjob_v1alpha1.yaml").read_text())
    doc["spec"]["dataset"]["trainProb"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc) + "---\nnot: [valid\n")
    result = runner.invoke(app, ["validate", str(bad)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "spec.dataset.trainProb" in result.output
    missing = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_validate_skips_foreign_objects(tmp_path: Path, conformance_dir: Path) -> None:
    manifest = tmp_path / "with-secret.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n" + (conformance_dir / "model_v1alpha1.yaml").read_text()
    )
    result = runner.invoke(app, ["validate", str(manifest)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "skipped Secret" in result.output and "1 valid resource(s)" in result.output


def test_crds_check_and_print() -> None:
    assert runner.invoke(app, ["crds", "--check", "--root", str(REPO)]).exit_code == 0
    printed = runner.invoke(app, ["crds"]).output
    kinds = [d["spec"]["names"]["kind"] for d in yaml.safe_load_all(printed) if d]
    assert len(kinds) == 6


def test_crds_check_detects_drift(tmp_path: Path) -> None:
    runner.invoke(app, ["crds", "--write", "--root", str(tmp_path)])
    target = tmp_path / "crds" / "sedna.io_models.yaml"
    target.write_text(target.read_text() + "# edited\n")
    result = runner.invoke(app, ["crds", "--check", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "sedna.io_models.yaml" in result.output
