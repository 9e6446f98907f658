"""Full loop: `sedna run` of the examples to their end state, and resuming after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sedna_operator.runtime.local.store import Store

from .examples_support import SEDNA, copy_example, run_example

pytestmark = pytest.mark.slow


def _fl_status(state: Path) -> dict:
    row = Store(state).get("FederatedLearningJob", "default", "digits-fedavg")
    assert row is not None
    return row.obj["status"]


def test_federated_learning_example(tmp_path: Path) -> None:
    example = copy_example("federated_learning", tmp_path)
    done, wall = run_example(example, tmp_path / "state")
    print(f"federated_learning wall time: {wall:.1f}s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sedna run: finished" in done.stdout
    status = _fl_status(tmp_path / "state")
    assert status["phase"] == "Succeeded"
    assert status["currentRound"] == 3
    assert status["succeeded"] == 4
    assert (example / "model" / "digits.pkl").is_file()  # the aggregated model the trainers saved
    # each round's test accuracy of the aggregated model reaches the job (and its conditions)
    accuracy = {m["key"]: float(m["value"]) for m in status["metrics"]}["accuracy"]
    assert accuracy > 0.85, status["metrics"]
    assert any("accuracy=" in c.get("message", "") for c in status["conditions"] if c["type"] == "Training")
    # The aggregator's readiness probe, tried on the port its Service got here.
    reasons = [e.reason for e in Store(tmp_path / "state").events("FederatedLearningJob", "default", "digits-fedavg")]
    assert "AggregatorReady" in reasons
    assert status["conditions"][0]["type"] == "Ready" and status["conditions"][0]["reason"] == "AggregationFinished"
    workers = Store(tmp_path / "state").workers()
    assert sorted(w.role for w in workers) == ["aggregation", "train", "train", "train"]
    assert all(w.exit_code == 0 for w in workers)
    agg_log = next(Path(w.log_path) for w in workers if w.role == "aggregation").read_text()
    assert "exited with 0" in agg_log
    get = subprocess.run(
        [*SEDNA, "get", "fl", "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Succeeded" in get.stdout and "digits-fedavg" in get.stdout


def test_sigkill_and_resume(tmp_path: Path) -> None:
    example = copy_example("federated_learning", tmp_path)
    manifest = example / "federated-learning.yaml"
    manifest.write_text(manifest.read_text().replace('value: "5"', 'value: "400"'))  # slower rounds
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [*SEDNA, "run", "-f", str(example), "--state-dir", str(state), "-q", "--timeout", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "workers never started"
            if (state / "state.db").exists():
                workers = Store(state).workers()
                if len(workers) == 4 and all(w.phase == "Running" for w in workers):
                    break
            time.sleep(0.2)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _fl_status(state).get("phase") != "Succeeded"
    pids = {w.name: w.pid for w in Store(state).workers()}
    lc_port = Store(state).get_meta("lc_port")
    done, wall = run_example(example, state)
    # The resumed LC listens where the adopted workers report (the killed one's connections
    # in TIME_WAIT must not move it).
    assert Store(state).get_meta("lc_port") == lc_port
    print(f"resumed run wall time: {wall:.1f}s")
    assert done.returncode == 0, done.stdout + done.stderr
    status = _fl_status(state)
    assert status["phase"] == "Succeeded" and status["currentRound"] == 3
    workers = Store(state).workers()
    assert len(workers) == 4, [w.name for w in workers]  # nothing created twice
    for w in workers:
        log = Path(w.log_path).read_text()
        # every worker was started exactly once: re-adopted by pid, not restarted
        assert log.count("Z start ") == 1, (w.name, log)
        assert w.restarts == 0 and w.exit_code == 0
        assert pids[w.name] is not None


def test_run_policies_apply_under_sedna_run(tmp_path: Path) -> None:
    """`sedna run` applies activeDeadlineSeconds as the operator does: the FL job, which would
    run 100,000 rounds, fails at its deadline with its workers stopped, and the run ends."""
    example = copy_example("federated_learning", tmp_path)
    manifest = example / "federated-learning.yaml"
    text = manifest.read_text().replace('value: "3"', 'value: "100000"')  # exit_round: never on its own
    manifest.write_text(text.replace("  aggregationWorker:", "  activeDeadlineSeconds: 3\n  aggregationWorker:", 1))
    done, _ = run_example(example, tmp_path / "state", timeout=120)
    # the run ends (the job is over) but says that it failed, and why
    assert done.returncode == 1, done.stdout + done.stderr
    assert "sedna run: finished" in done.stdout
    assert "failed: FederatedLearningJob/digits-fedavg: DeadlineExceeded" in done.stderr
    status = _fl_status(tmp_path / "state")
    assert status["phase"] == "Failed" and status["conditions"][-1]["reason"] == "DeadlineExceeded"
    assert all(w.phase != "Running" for w in Store(tmp_path / "state").workers())
    assert (status.get("currentRound") or 0) < 100000 and status["active"] == 0


def test_a_suspended_job_runs_no_worker_under_sedna_run(tmp_path: Path) -> None:
    example = copy_example("federated_learning", tmp_path)
    manifest = example / "federated-learning.yaml"
    manifest.write_text(manifest.read_text().replace("  aggregationWorker:", "  suspend: true\n  aggregationWorker:", 1))
    done, _ = run_example(example, tmp_path / "state", timeout=6)
    assert "sedna run: finished" not in done.stdout  # a suspended job does not end on its own
    assert done.returncode == 124, done.stdout + done.stderr  # --timeout with a job unfinished
    assert "not finished: FederatedLearningJob/digits-fedavg" in done.stderr
    assert Store(tmp_path / "state").workers() == []
    status = _fl_status(tmp_path / "state")
    assert status["conditions"][0]["type"] == "Suspended" and status["conditions"][0]["status"] == "True"
