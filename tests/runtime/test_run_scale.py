"""`sedna run` with thousands of resources: linear work per pass, prompt stops, a size limit.

Scaling is measured by work (rows the store loads, statements it runs, reconciles), never by
time; the subprocess tests bound their waits only so that a hang fails instead of blocking.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from sedna_operator.controllers.plan import Observation, Plan
from sedna_operator.runtime.local.loop import KindController, LocalRuntime, RuntimeConfig, load_reconcilers
from sedna_operator.runtime.local.session import apply_files
from sedna_operator.runtime.local.store import ResourceRow, Store

# A stop must be honoured within about one reconcile; this bound only keeps a hang from
# blocking the suite (today's loop, which looks at signals between passes, needs minutes).
STOP_BOUND_S = 30.0
SEDNA = [str(Path(sys.executable).with_name("sedna"))]


def write_datasets(directory: Path, n: int, *, job: bool = False) -> Path:
    """``n`` Datasets in one multi-document file (and, with ``job``, an FL job whose workers
    sleep, so the run never ends on its own)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.txt").write_text("".join(f"{i} {i % 10}\n" for i in range(5)))
    docs = [
        f"apiVersion: sedna.io/v1alpha1\nkind: Dataset\nmetadata:\n  name: ds-{i:05d}\n"
        "spec:\n  url: ./index.txt\n  format: txt\n  nodeName: edge-node\n"
        for i in range(n)
    ]
    if job:
        sleeper = '["python", "-c", "import time; time.sleep(600)"]'
        docs.append(
            "apiVersion: sedna.io/v1alpha1\nkind: Model\nmetadata:\n  name: sleepy-model\n"
            "spec:\n  url: ./model.pkl\n  format: pkl\n"
        )
        docs.append(
            f"""apiVersion: sedna.io/v1alpha1
kind: FederatedLearningJob
metadata:
  name: sleepy
spec:
  aggregationWorker:
    model:
      name: sleepy-model
    template:
      spec:
        containers:
          - image: sedna-example/sleepy
            name: agg
            command: {sleeper}
  trainingWorkers:
    - dataset:
        name: ds-00000
      template:
        spec:
          containers:
            - image: sedna-example/sleepy
              name: train
              command: {sleeper}
"""
        )
    path = directory / "many.yaml"
    path.write_text("---\n".join(docs))
    return path


# ---- (a) work per pass grows linearly ---------------------------------------------------------


@contextmanager
def counting(store: Store) -> Iterator[dict[str, int]]:
    """Rows of ``resources`` materialised and SQL statements run, while the block runs."""
    counts = {"rows": 0, "statements": 0}

    def on_load(_target: Any, _context: Any) -> None:
        counts["rows"] += 1

    def on_execute(*_args: Any) -> None:
        counts["statements"] += 1

    event.listen(ResourceRow, "load", on_load)
    event.listen(store.engine, "before_cursor_execute", on_execute)
    try:
        yield counts
    finally:
        event.remove(ResourceRow, "load", on_load)
        event.remove(store.engine, "before_cursor_execute", on_execute)


def _work(tmp_path: Path, n: int) -> dict[str, int]:
    """Work of applying ``n`` Datasets and of three passes over them."""
    manifest = write_datasets(tmp_path / f"m{n}", n)
    store = Store(tmp_path / f"state{n}")
    try:
        with counting(store) as applying:
            messages, errors = apply_files(store, [manifest])
        assert not errors and messages
        controller = load_reconcilers()["Dataset"]
        reconciled: list[str] = []

        def reconcile(obs: Observation) -> Plan:
            reconciled.append(obs.resource.name)
            return controller.reconcile(obs)

        runtime = LocalRuntime(
            store,
            RuntimeConfig(lc_url="http://127.0.0.1:1"),
            {"Dataset": KindController(reconcile, controller.cleanup)},
            dataset_counts=lambda _ns, _name: 5,
        )
        with counting(store) as first:
            runtime.step()  # counts each Dataset's samples and stamps updateTime
        assert len(reconciled) == n
        runtime.step()  # reconciles what the first pass wrote, which now plans nothing
        reconciled.clear()
        with counting(store) as settled:
            runtime.step()
        rows = store.list("Dataset")
        assert all(r.obj["status"]["numberOfSamples"] == 5 for r in rows) and len(rows) == n
        return {
            "apply_statements": applying["statements"],
            "first_pass_rows": first["rows"],
            "first_pass_statements": first["statements"],
            "settled_pass_rows": settled["rows"],
            "settled_pass_reconciles": len(reconciled),
        }
    finally:
        store.close()


def test_work_per_pass_grows_linearly_with_the_resources(tmp_path: Path) -> None:
    small, large = _work(tmp_path, 100), _work(tmp_path, 200)
    for key in ("apply_statements", "first_pass_rows", "first_pass_statements", "settled_pass_rows"):
        # linear: twice the resources, about twice the work (quadratic would be 4x)
        assert large[key] <= 2.3 * small[key] + 10, (key, small[key], large[key])
    # a pass over Datasets that have not changed reconciles none of them
    assert small["settled_pass_reconciles"] == large["settled_pass_reconciles"] == 0
    # and every resource is read a bounded number of times per pass, not once per resource
    assert large["first_pass_rows"] <= 5 * 200, large


def test_a_changed_dataset_is_reconciled_again(tmp_path: Path) -> None:
    manifest = write_datasets(tmp_path / "m", 3)
    store = Store(tmp_path / "state")
    apply_files(store, [manifest])
    counts = {"ds-00001": 5}
    controller = load_reconcilers()["Dataset"]
    reconciled: list[str] = []

    def reconcile(obs: Observation) -> Plan:
        reconciled.append(obs.resource.name)
        return controller.reconcile(obs)

    runtime = LocalRuntime(
        store,
        RuntimeConfig(lc_url="http://127.0.0.1:1"),
        {"Dataset": KindController(reconcile)},
        dataset_counts=lambda _ns, name: counts.get(name, 0),
    )
    for _ in range(3):
        runtime.step()
    reconciled.clear()
    counts["ds-00001"] = 7  # the LC counted new lines
    runtime.step()
    assert reconciled == ["ds-00001"]
    row = store.get("Dataset", "default", "ds-00001")
    assert row is not None and row.obj["status"]["numberOfSamples"] == 7
    store.close()


# ---- (b), (c) stopping a busy run --------------------------------------------------------------


def _run(args: list[str], state: Path, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "SEDNA_STATE_DIR": str(state)}
    env.update(kwargs.pop("env", {}))
    return subprocess.Popen(
        [*SEDNA, "run", "-q", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        **kwargs,
    )


def _finish(proc: subprocess.Popen[str], bound: float) -> tuple[int | None, str]:
    """(exit code, output); None when it was still running after ``bound`` seconds (killed)."""
    try:
        out, err = proc.communicate(timeout=bound)
        return proc.returncode, out + err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out + err


def _resources(state: Path) -> int:
    try:
        with sqlite3.connect(state / "state.db", timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM resources").fetchone()[0])
    except sqlite3.Error:
        return 0


def _consistent(state: Path) -> None:
    with sqlite3.connect(state / "state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        running = db.execute("SELECT count(*) FROM workers WHERE pid IS NOT NULL").fetchone()[0]
    assert running == 0, "a stopped run leaves no worker process recorded as running"


N_BUSY = 2000


@pytest.mark.timeout(240)
def test_sigterm_stops_a_busy_run_promptly_and_the_next_run_resumes(tmp_path: Path) -> None:
    manifest = write_datasets(tmp_path / "m", N_BUSY, job=True)
    state = tmp_path / "state"
    proc = _run(["-f", str(manifest)], state)
    deadline = time.monotonic() + 120
    while _resources(state) < N_BUSY + 2 and proc.poll() is None:  # applied: now it reconciles
        assert time.monotonic() < deadline, "the manifests were never applied"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code, output = _finish(proc, STOP_BOUND_S)
    assert code is not None, f"still running {STOP_BOUND_S} s after SIGTERM"
    assert code == 130, output
    assert "sedna run: interrupted" in output
    assert time.monotonic() - signalled < STOP_BOUND_S
    _consistent(state)

    # the next run picks up where this one stopped (the job is still unfinished at its timeout)
    code, output = _finish(_run(["-f", str(manifest), "--timeout", "20"], state), 120)
    assert code == 124, output
    assert "error" not in output.lower() and "Traceback" not in output
    assert "not finished: FederatedLearningJob/sleepy" in output
    assert f"{N_BUSY} dataset unchanged" in output
    _consistent(state)
    with sqlite3.connect(state / "state.db") as db:
        stamped = db.execute(
            "SELECT count(*) FROM resources WHERE kind = 'Dataset' "
            "AND json_extract(body, '$.status.updateTime') IS NOT NULL"
        ).fetchone()[0]
    assert stamped == N_BUSY  # every Dataset reconciled by one run or the other


@pytest.mark.timeout(240)
def test_timeout_stops_a_busy_run_promptly(tmp_path: Path) -> None:
    manifest = write_datasets(tmp_path / "m", N_BUSY, job=True)
    state = tmp_path / "state"
    timeout = 3.0
    started = time.monotonic()
    code, output = _finish(
        _run(["-f", str(manifest), "--timeout", str(timeout)], state), timeout + STOP_BOUND_S
    )
    assert code is not None, f"still running {STOP_BOUND_S} s after its --timeout"
    assert code == 124, output
    assert "sedna run: timeout" in output
    assert time.monotonic() - started < timeout + STOP_BOUND_S
    if (state / "state.db").exists():
        _consistent(state)


# ---- (d) the resource limit -----------------------------------------------------------------


def test_more_resources_than_the_limit_are_refused_before_any_work(tmp_path: Path) -> None:
    manifest = write_datasets(tmp_path / "m", 6)
    state = tmp_path / "state"
    code, output = _finish(_run(["-f", str(manifest)], state, env={"SEDNA_MAX_RESOURCES": "5"}), 60)
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "SEDNA_MAX_RESOURCES=5" in errors[0], output
    assert _resources(state) == 0  # nothing applied
    assert not (state / "lc.db").exists()  # nor the LC started

    code, output = _finish(_run(["-f", str(manifest)], state, env={"SEDNA_MAX_RESOURCES": "abc"}), 60)
    assert code == 1 and "SEDNA_MAX_RESOURCES" in output, output

    code, output = _finish(_run(["-f", str(manifest)], state, env={"SEDNA_MAX_RESOURCES": "6"}), 60)
    assert code == 0, output
    assert _resources(state) == 6


def test_the_limit_stops_parsing_at_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sedna_operator.manifests import load_files

    manifest = write_datasets(tmp_path / "m", 50)
    result = load_files([manifest], max_objects=10, limit_name="SEDNA_MAX_RESOURCES=10")
    assert len(result.resources) == 10 and len(result.errors) == 1
    assert "SEDNA_MAX_RESOURCES=10" in result.errors[0]
    monkeypatch.setenv("SEDNA_MAX_RESOURCES", "10")
    store = Store(tmp_path / "state")
    _, errors = apply_files(store, [manifest])
    assert errors and store.list() == []
    store.close()


# ---- stopping many workers ------------------------------------------------------------------


def test_suspend_all_gives_every_worker_one_shared_grace(tmp_path: Path) -> None:
    """Workers that ignore SIGTERM are killed after one grace in all, not one grace each."""
    import json

    from sedna_operator.runtime.local.podenv import PodProcesses, ProcessSpec
    from sedna_operator.runtime.local.runner import Runner
    from sedna_operator.runtime.local.store import WorkerRow

    store = Store(tmp_path / "state")
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"

    def build(_row: WorkerRow) -> PodProcesses:
        return PodProcesses(init=[], main=ProcessSpec("c", [sys.executable, "-c", stubborn], {}, tmp_path))

    runner = Runner(store, build)
    pod = json.dumps({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}})
    for i in range(4):
        row = WorkerRow(
            name=f"w{i}", owner_kind="FederatedLearningJob", owner_namespace="default",
            owner_name="j", role="train", pod=pod, phase="Pending",
        )  # fmt: skip
        store.add_worker(row)
        runner.start(row)
    deadline = time.monotonic() + 30
    while not all(
        runner.log_path(f"w{i}").exists() and "up" in runner.log_path(f"w{i}").read_text() for i in range(4)
    ):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.05)
    grace = 2.0
    started = time.monotonic()
    runner.suspend_all(grace=grace)
    took = time.monotonic() - started
    # one grace each would be 4 x 2 s; the bound is loose (a functional check, not a timing one)
    assert took < 3 * grace, took
    assert all(w.phase == "Pending" and w.pid is None for w in store.workers())
    store.close()


def test_a_timeout_before_anything_was_reconciled_is_not_success(tmp_path: Path) -> None:
    """Datasets only (no job to be unfinished): a run its --timeout cut short must not exit 0."""
    from sedna_operator.runtime.local.session import RunOptions, run

    manifest = write_datasets(tmp_path / "m", 20)
    outcome = run(RunOptions(files=[manifest], state_dir=tmp_path / "state", timeout=0.0), say=lambda _: None)
    assert outcome.reason == "timeout" and outcome.incomplete and outcome.exit_code == 124
    outcome = run(
        RunOptions(files=[manifest], state_dir=tmp_path / "state", timeout=60.0), say=lambda _: None
    )
    assert outcome.reason == "finished" and outcome.exit_code == 0
