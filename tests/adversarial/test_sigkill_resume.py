"""Fault injection: ``sedna run`` of the FL and IL examples is SIGKILLed at seeded random
points (once, or twice in a row), then resumed on the same state until it finishes. The end
state must be the clean run's: the job succeeds, no round runs twice, no worker is created or
started twice, every round's report reached the status, and the model versions agree.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sedna_operator.runtime.local.store import Store
from tests.runtime.examples_support import SEDNA, copy_example, run_example, worker_logs

pytestmark = pytest.mark.slow

SEED = 20261202
rng = random.Random(SEED)
# Kill points are progress markers (an event the run recorded, or a line a worker logged), each
# with a seeded delay after it: the same points on a fast or a loaded machine. Each example is
# killed once, and twice in a row (a kill during the resume of a kill).
MARKERS = {
    "federated_learning": [("workers", 4), ("event", "AggregatorReady"), ("workers", 1)],
    "incremental_learning": [("event", "TrainTriggered"), ("event", "TrainCompleted"), ("event", "EvalCompleted"), ("event", "HotUpdateRequested")],
}


def _schedules() -> list[tuple[str, list[tuple[tuple[str, Any], float]]]]:
    out = []
    for name, markers in MARKERS.items():
        single = rng.choice(markers)
        first, second = sorted(rng.sample(range(len(markers)), 2))
        out.append((name, [(single, round(rng.uniform(0, 0.5), 2))]))
        out.append((name, [(markers[first], round(rng.uniform(0, 0.5), 2)), (markers[second], round(rng.uniform(0, 0.5), 2))]))
    return out


def _reached(state: Path, marker: tuple[str, Any]) -> bool:
    if not (state / "state.db").exists():
        return False
    what, value = marker
    store = Store(state)
    if what == "workers":
        return len(store.workers()) >= value
    if what == "running":
        workers = store.workers()
        return len(workers) >= value and all(w.phase == "Running" for w in workers)
    return any(e.reason == value for e in store.events())


def _kill_at(example: Path, state: Path, marker: tuple[str, Any], delay: float) -> None:
    """Start `sedna run`, SIGKILL it ``delay`` s after ``marker`` is reached (or once it ends)."""
    proc = subprocess.Popen(
        [*SEDNA, "run", "-f", str(example), "--state-dir", str(state), "-q", "--timeout", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while proc.poll() is None and not _reached(state, marker):
            assert time.monotonic() < deadline, f"{marker} never reached"
            time.sleep(0.05)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _status(state: Path, kind: str, name: str) -> dict[str, Any]:
    row = Store(state).get(kind, "default", name)
    assert row is not None
    return row.obj["status"]


def _starts(log: str) -> int:
    return log.count("Z start ")


def check_fl(example: Path, state: Path) -> None:
    status = _status(state, "FederatedLearningJob", "digits-fedavg")
    assert status["phase"] == "Succeeded" and status["currentRound"] == 3, status
    assert status["succeeded"] == 4 and status["failed"] == 0, status
    accuracy = {m["key"]: float(m["value"]) for m in status["metrics"]}["accuracy"]
    assert accuracy > 0.85, status["metrics"]
    # a Training condition per observed round, never one round twice
    rounds = [int(m.group(1)) for c in status["conditions"] if (m := re.match(r"Round (\d+) reaches", c.get("message", "")))]
    assert rounds and len(rounds) == len(set(rounds)) and set(rounds) <= {1, 2, 3} and 3 in rounds, rounds
    workers = Store(state).workers()
    assert sorted(w.role for w in workers) == ["aggregation", "train", "train", "train"], [w.name for w in workers]
    for w in workers:
        log = Path(w.log_path).read_text()
        assert _starts(log) == 1 and w.exit_code == 0, (w.name, log[-1500:])
        if w.role == "aggregation":
            closed = Counter(re.findall(r"aggregation round (\d+) closed", log))
            assert closed == Counter({"1": 1, "2": 1, "3": 1}), (closed, log[-1500:])
        else:
            seen = Counter(re.findall(r"^round (\d+): test accuracy", log, re.M))
            assert seen == Counter({"1": 1, "2": 1, "3": 1}), (w.name, seen)
    assert (example / "model" / "digits.pkl").is_file()


IL_STAGES = [
    ("Waiting", "Train"), ("Ready", "Train"), ("Starting", "Train"), ("Running", "Train"), ("Completed", "Train"),
    ("Waiting", "Eval"), ("Ready", "Eval"), ("Starting", "Eval"), ("Running", "Eval"), ("Completed", "Eval"),
    ("Waiting", "Deploy"), ("Ready", "Deploy"), ("Starting", "Deploy"), ("Running", "Deploy"), ("Completed", "Deploy"),
]


def check_il(example: Path, state: Path) -> None:
    status = _status(state, "IncrementalLearningJob", "digits-il")
    stages = [(c["type"], c.get("stage", "")) for c in status["conditions"]]
    # round 1 went through each stage once, in order (a stage's intermediate steps may pass unseen)
    assert len(stages) == len(set(stages)) and set(stages) <= set(IL_STAGES), stages
    assert [IL_STAGES.index(x) for x in stages] == sorted(IL_STAGES.index(x) for x in stages), stages
    assert {("Completed", "Train"), ("Completed", "Eval")} <= set(stages) and stages[-1] == ("Completed", "Deploy"), stages
    assert status["round"] == 1 and status.get("completionTime"), status
    cs = status["controllerState"]
    trained = str(example / "output" / "train" / "1" / "model.json")
    assert cs["completedRounds"] == 1 and cs["finished"] is True, cs
    assert [m["url"] for m in cs["trained"]] == [trained], cs["trained"]
    assert len(cs["evaluated"]) == 2 and cs["evaluated"][0]["url"] == trained, cs["evaluated"]
    # the round completed: the deploy request to the LC is deleted (a merge patch keeps only
    # what is written as null), the deployed model stays
    assert cs["deployedModel"] == trained and "deploy" not in cs, cs
    reasons = Counter(e.reason for e in Store(state).events("IncrementalLearningJob", "default", "digits-il"))
    for reason in ("TrainTriggered", "TrainCompleted", "EvalCompleted", "DeployTriggered", "HotUpdated", "JobCompleted"):
        assert reasons[reason] == 1, reasons
    workers = Store(state).workers()
    assert sorted(w.role for w in workers) == ["eval", "inference", "train"], [w.name for w in workers]
    for w in workers:
        log = Path(w.log_path).read_text()
        assert _starts(log) == 1 and w.exit_code == 0, (w.name, log[-1500:])
    log = Path(next(w for w in workers if w.role == "inference").log_path).read_text()
    assert "model updates 1" in log, log[-1500:]


CHECKS = {"federated_learning": check_fl, "incremental_learning": check_il}


SCHEDULES = _schedules()


@pytest.mark.parametrize(
    ("name", "kills"),
    SCHEDULES,
    ids=[f"{name}-" + "+".join(f"{m[0]}={m[1]}@{d}s" for m, d in kills) for name, kills in SCHEDULES],
)
def test_sigkill_then_resume_ends_like_a_clean_run(tmp_path: Path, name: str, kills: list[tuple[tuple[str, Any], float]]) -> None:
    example = copy_example(name, tmp_path)
    state = tmp_path / "state"
    for marker, delay in kills:
        _kill_at(example, state, marker, delay)
    done, _ = run_example(example, state, timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr + worker_logs(state)
    assert "sedna run: finished" in done.stdout, done.stdout
    CHECKS[name](example, state)


def test_reports_sent_while_sedna_run_is_down_are_not_lost(tmp_path: Path) -> None:
    example = copy_example("federated_learning", tmp_path)
    state = tmp_path / "state"
    _kill_at(example, state, ("running", 4), 0.0)
    workers = Store(state).workers()
    deadline = time.monotonic() + 90
    while not all((state / "pods" / w.name / "exit-code").exists() for w in workers):
        assert time.monotonic() < deadline, "the workers never finished"
        time.sleep(0.2)
    done, _ = run_example(example, state, timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr
    check_fl(example, state)
