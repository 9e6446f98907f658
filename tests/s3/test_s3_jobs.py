"""Incremental and lifelong learning under ``sedna run`` with everything on S3: the Dataset's
index, the Models and the jobs' ``outputDir`` are ``s3://`` URLs on the test server, with Sedna's
credential Secret (``s3-endpoint``/``s3-usehttps`` annotations, ACCESS_KEY_ID/SECRET_ACCESS_KEY).

The LC counts the s3 index, uploads the round files, and downloads (IL hot update) or copies
(LL deploy index) the trained models; the storage initializer downloads the round data and the
Models with the Secret's keys; the workers write their models to s3 through FileOps. Neither
key may show in worker logs, ``sedna describe``, status or events."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.runtime.examples_support import SEDNA, copy_example, run_example, worker_logs

from .conftest import S3Server


def _s3_example(name: str, tmp_path: Path, s3: S3Server, prefix: str) -> Path:
    """A copy of ``examples/<name>`` whose Dataset, Models and outputDir are on s3."""
    example = copy_example(name, tmp_path)
    manifest = next(example.glob("*.yaml"))
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    for doc in docs:
        spec = doc["spec"]
        if doc["kind"] in ("Dataset", "Model"):
            local = example / spec["url"]
            spec["url"] = s3.put(f"{prefix}/{spec['url'].removeprefix('./')}", local.read_bytes())
            spec["credentialName"] = "s3-credential"
        else:
            spec["outputDir"] = f"s3://{s3.bucket}/{prefix}/output"
            spec["credentialName"] = "s3-credential"
    docs.insert(0, s3.secret_manifest())
    manifest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return example


def _state(state: Path, *args: str) -> str:
    done = subprocess.run([*SEDNA, *args, "--state-dir", str(state)], capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def _no_keys(s3: S3Server, state: Path, kind: str, name: str, dataset: str) -> None:
    """Neither key in worker logs, ``sedna describe`` (events), ``sedna get -o yaml`` (status)."""
    texts = {
        "worker logs": "".join(p.read_text() for p in (state / "logs").glob("*.log")),
        "describe": _state(state, "describe", kind, name),
        "get -o yaml": _state(state, "get", kind, name, "-o", "yaml"),
        "dataset describe": _state(state, "describe", "dataset", dataset),
        "dataset get -o yaml": _state(state, "get", "dataset", dataset, "-o", "yaml"),
    }
    assert "storage-initializer" in texts["worker logs"]  # the downloads ran, with the keys
    for what, text in texts.items():
        for key in (s3.access_key, s3.secret_key):
            assert key not in text, f"a credential shows in {what}"


def _counted(state: Path, dataset: str, example: Path) -> None:
    """The LC counted the s3 index (every line of the example's train.txt)."""
    status = yaml.safe_load(_state(state, "get", "dataset", dataset, "-o", "yaml")) or {}
    lines = len((example / "data" / "train.txt").read_text().splitlines())
    assert (status.get("status") or {}).get("numberOfSamples") == lines, status


def test_incremental_learning_on_s3(tmp_path: Path, s3: S3Server) -> None:
    example = _s3_example("incremental_learning", tmp_path, s3, "il")
    state = tmp_path / "state"
    done, wall = run_example(example, state, timeout=150)
    describe = _state(state, "describe", "il", "digits-il")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{describe}\n{worker_logs(state)}"
    keys = s3.keys("il/output/")
    assert "il/output/data/train/1/data.txt" in keys, keys
    assert "il/output/data/eval/1/data.txt" in keys, keys
    assert "il/output/data/train/1/dataIndex.txt" in keys, keys  # Sedna's, for a remote dataset
    assert any(k.startswith("il/output/train/1/") for k in keys), keys
    train = s3.get("il/output/data/train/1/data.txt").decode().splitlines()
    assert train and all(len(line.split()) == 2 for line in train), train[:3]
    assert "DeployCopied" in describe, describe
    _counted(state, "il-digits-dataset", example)
    _no_keys(s3, state, "il", "digits-il", "il-digits-dataset")


def test_lifelong_learning_on_s3(tmp_path: Path, s3: S3Server) -> None:
    example = _s3_example("lifelong_learning", tmp_path, s3, "ll")
    state = tmp_path / "state"
    done, wall = run_example(example, state, timeout=150)
    describe = _state(state, "describe", "ll", "digits-ll")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{describe}\n{worker_logs(state)}"
    keys = s3.keys("ll/output/")
    assert "ll/output/data/train/1/data.txt" in keys, keys
    assert "ll/output/data/eval/1/data.txt" in keys, keys
    assert "ll/output/deploy/index.pkl" in keys, keys
    assert "DeployCopied" in describe, describe
    _counted(state, "ll-digits-dataset", example)
    _no_keys(s3, state, "ll", "digits-ll", "ll-digits-dataset")
