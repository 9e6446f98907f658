"""Sedna-style worker scripts (unchanged, as in Sedna's examples) run as subprocesses on the SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from tests.sdk_core.conftest import free_port
from tests.sdk_core.sdk_models import ProbaEstimator, SoftmaxEstimator, load_digits_xy, trained

SCRIPTS = Path(__file__).parent / "sedna_scripts"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOB_", "SERVICE_", "MODEL_", "BIG_MODEL"))}
    env.update(extra)
    return env


def test_joint_inference_scripts_run_unchanged(tmp_path, fake_lc):
    x, _ = load_digits_xy()
    big = trained(SoftmaxEstimator, n=1200, epochs=150)
    edge = trained(ProbaEstimator, n=200, epochs=40)
    big_path, edge_path = big.save(str(tmp_path / "big.pkl")), edge.save(str(tmp_path / "edge.pkl"))
    np.savez(tmp_path / "samples.npz", x=x[1500:1530])
    port = free_port()
    cloud = subprocess.Popen(
        [sys.executable, "big_model.py"], cwd=SCRIPTS,
        env=_env(SERVICE_NAME="helmet-detection-inference-example", WORKER_NAME="cloudworker-x1",
                 NAMESPACE="default", MODEL_URL=big_path, BIG_MODEL_BIND_IP="127.0.0.1",
                 BIG_MODEL_BIND_PORT=str(port), BACKEND_TYPE="SKLEARN"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/helmet-detection-inference-example"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert cloud.poll() is None, cloud.stdout.read().decode() if cloud.stdout else ""
                assert time.monotonic() < deadline, "big model service did not come up"
                time.sleep(0.2)
        edge_run = subprocess.run(
            [sys.executable, "little_model.py"], cwd=SCRIPTS, capture_output=True, text=True, timeout=60,
            env=_env(SERVICE_NAME="helmet-detection-inference-example", WORKER_NAME="edgeworker-x1",
                     NAMESPACE="default", LC_SERVER=fake_lc.url, MODEL_URL=edge_path,
                     BIG_MODEL_IP="127.0.0.1", BIG_MODEL_PORT=str(port), BACKEND_TYPE="SKLEARN",
                     HEM_NAME="CrossEntropy",
                     HEM_PARAMETERS=json.dumps([{"key": "threshold_cross_entropy", "value": "0.35"}]),
                     data_url=str(tmp_path / "samples.npz")),
        )
        assert edge_run.returncode == 0, edge_run.stderr
        line = next(ln for ln in edge_run.stdout.splitlines() if ln.startswith("SUMMARY "))
        summary = json.loads(line[len("SUMMARY "):])
        assert 0 < summary["hard"] < 30
        cloud_labels = big.predict(x[1500:1530]).tolist()
        hard_rows = [i for i, r in enumerate(summary["results"]) if isinstance(r, list) and len(r) == 1]
        assert len(hard_rows) == summary["hard"]
        assert all(summary["results"][i] == [cloud_labels[i]] for i in hard_rows)
        body = fake_lc.of_kind("inference")[-1]
        assert body["ownerName"] == "helmet-detection-inference-example"
        assert body["ownerKind"] == "jointinferenceservice" and body["name"] == "edgeworker-x1"
        assert body["ownerInfo"]["inferenceNumber"] == 30
        assert body["ownerInfo"]["hardExampleNumber"] == summary["hard"]
    finally:
        cloud.terminate()
        cloud.wait(10)
