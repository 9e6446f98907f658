"""Unit tests of the local runtime's pure parts, the store and the process runner."""

from __future__ import annotations

import base64
import sys
import time
from pathlib import Path

import pytest

from sedna_operator.core.merge import merge_patch
from sedna_operator.core.secrets import decode_secret
from sedna_operator.runtime.local.images import ImageMap
from sedna_operator.runtime.local.jsonpath import evaluate, render_value
from sedna_operator.runtime.local.podenv import (
    LocalRuntimeError,
    PodContext,
    ServiceInfo,
    expand,
    pod_processes,
)
from sedna_operator.runtime.local.runner import Runner, restart_delay, should_restart
from sedna_operator.runtime.local.store import Store, WorkerRow


def test_merge_patch_rfc7386() -> None:
    target = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1]}
    assert merge_patch(target, {"b": {"c": None, "e": 4}, "l": [2], "a": None}) == {
        "b": {"d": 3, "e": 4},
        "l": [2],
    }
    assert target["b"] == {"c": 2, "d": 3}  # not modified


def test_jsonpath_printer_column_forms() -> None:
    obj = {
        "status": {
            "conditions": [{"type": "Waiting", "stage": "Train"}, {"type": "Ready", "stage": "Eval"}],
            "metrics": [{"key": "inferenceNumber", "value": "12"}, {"key": "x", "value": "1"}],
        }
    }
    assert evaluate(obj, ".status.conditions[-1:].stage") == ["Eval"]
    assert evaluate(obj, '.status.metrics[?(@.key=="inferenceNumber")].value') == ["12"]
    assert evaluate(obj, ".status.missing.deeper") == []
    assert render_value([], "string") == "<none>"


def test_image_map_order(tmp_path: Path) -> None:
    (tmp_path / "sedna-images.yaml").write_text(
        "images:\n  my/img: sub\n  other/*:\n    dir: .\n    entrypoint: [python, x.py]\n"
    )
    images = ImageMap()
    images.add_option(f"cli/img={tmp_path}")
    images.add_file(tmp_path / "sedna-images.yaml")
    assert images.lookup("cli/img:v1", None).directory == tmp_path.resolve()
    assert images.lookup("my/img:v2", None).directory == (tmp_path / "sub").resolve()
    assert images.lookup("other/thing", None).entrypoint == ("python", "x.py")
    assert images.lookup("unknown/img", tmp_path).directory == tmp_path
    assert images.lookup("kubeedge/sedna-storage-initializer:v0.3.0", tmp_path).entrypoint[:2] == (
        "python",
        "-m",
    )


def _pod(env: list[dict], **spec: object) -> dict:
    return {
        "metadata": {"name": "job-train-abc", "namespace": "ns1", "labels": {"app": "agg"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "sedna-example/x:v1",
                    "workingDir": "/home/work",
                    "command": ["python3", "/home/work/train.py"],
                    "args": ["--data", "/home/data/d/x.txt"],
                    "env": env,
                    "volumeMounts": [{"name": "data", "mountPath": "/home/data/d"}],
                }
            ],
            "volumes": [{"name": "data", "hostPath": {"path": "/srv/d"}}],
            **spec,
        },
    }


def _ctx(tmp_path: Path, **kw: object) -> PodContext:
    return PodContext(
        lc_url="http://127.0.0.1:4242",
        pod_dir=tmp_path / "pod",
        default_image_dir=tmp_path,
        python="/venv/python",
        base_env={"PATH": "/bin"},
        **kw,
    )  # type: ignore[arg-type]


def test_env_is_exactly_the_pods(tmp_path: Path) -> None:
    env = [
        {"name": "epochs", "value": "3"},
        {"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "LC_SERVER", "value": "http://$(NODE_IP):9100"},
        {"name": "REF", "value": "$(epochs)-$$(epochs)-$(UNDEFINED)"},
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "ACCESS_KEY_ID"}}},
        {"name": "TRAIN_DATASET_URL", "value": "/home/data/d/x.txt;/home/data/d/y.txt"},
        {"name": "DATA_PATH_PREFIX", "value": "/home/data"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    ctx = _ctx(tmp_path, secrets={("ns1", "s3"): {"ACCESS_KEY_ID": "AK"}})
    proc = pod_processes(_pod(env), ctx).main
    assert proc.env == {
        "PATH": "/bin",
        "PYTHONUNBUFFERED": "1",
        "epochs": "3",
        "NODE_IP": "127.0.0.1",
        "LC_SERVER": "http://127.0.0.1:4242",
        "REF": "3-$(epochs)-$(UNDEFINED)",
        "KEY": "AK",
        "TRAIN_DATASET_URL": "/srv/d/x.txt;/srv/d/y.txt",
        "DATA_PATH_PREFIX": "",
        "POD": "job-train-abc",
    }
    assert proc.argv == ["/venv/python", f"{tmp_path}/train.py", "--data", "/srv/d/x.txt"]
    assert proc.cwd == tmp_path


def test_missing_secret_is_a_clear_error(tmp_path: Path) -> None:
    env = [{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "K"}}}]
    with pytest.raises(LocalRuntimeError, match=r"Secret ns1/creds is not known: pass its manifest"):
        pod_processes(_pod(env), _ctx(tmp_path))
    assert decode_secret({"data": {"K": base64.b64encode(b"v").decode()}, "stringData": {"S": "w"}}) == {
        "K": "v",
        "S": "w",
    }


def test_service_hosts_and_ports_are_rewritten(tmp_path: Path) -> None:
    svc = ServiceInfo("job-aggregation", "ns1", {"app": "agg"}, {7363: 40001})
    client_env = [
        {"name": "AGG_IP", "value": "job-aggregation.ns1"},
        {"name": "AGG_PORT", "value": "7363"},
        {"name": "URL", "value": "ws://job-aggregation.ns1.svc.cluster.local:7363/FedAvg"},
        {"name": "OTHER_PORT", "value": "7363"},
    ]
    proc = pod_processes(_pod(client_env), _ctx(tmp_path, services=[svc])).main
    assert proc.env["AGG_IP"] == "127.0.0.1"
    assert proc.env["AGG_PORT"] == "40001"
    assert proc.env["URL"] == "ws://127.0.0.1:40001/FedAvg"
    assert proc.env["OTHER_PORT"] == "7363"  # not beside a host naming the service
    server = pod_processes(
        _pod([{"name": "AGG_BIND_PORT", "value": "7363"}]), _ctx(tmp_path, services=[svc])
    ).main
    assert server.env["AGG_BIND_PORT"] == "40001"


def test_store_apply_generation_and_status(tmp_path: Path) -> None:
    store = Store(tmp_path)
    obj = {
        "apiVersion": "sedna.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "m"},
        "spec": {"url": "/a", "format": "pkl"},
    }
    assert store.apply(obj).action == "created"
    assert store.apply(obj).action == "unchanged"
    store.patch_status("Model", "default", "m", {"updateTime": "t", "metrics": [{"key": "a", "value": "1"}]})
    changed = {**obj, "spec": {"url": "/b", "format": "pkl"}}
    assert store.apply(changed).action == "configured"
    row = store.get("Model", "default", "m")
    assert row is not None
    meta = row.obj["metadata"]
    assert meta["generation"] == 2 and meta["uid"] and int(meta["resourceVersion"]) >= 3
    assert row.obj["status"]["updateTime"] == "t"
    # a second connection (another process) reads the committed state (WAL mode)
    other = Store(tmp_path)
    other_row = other.get("Model", "default", "m")
    assert other_row is not None and other_row.obj["spec"]["url"] == "/b"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_restart_rules() -> None:
    assert should_restart(None, 0) and should_restart("Always", 0)
    assert should_restart("OnFailure", 1) and not should_restart("OnFailure", 0)
    assert not should_restart("Never", 1)
    assert restart_delay(0) == 0.5 and restart_delay(20) == 10.0


def _runner(tmp_path: Path, code: str, policy: str = "Never") -> tuple[Store, Runner, WorkerRow]:
    from sedna_operator.runtime.local.podenv import PodProcesses, ProcessSpec

    store = Store(tmp_path)

    def build(_row: WorkerRow) -> PodProcesses:
        return PodProcesses(
            init=[], main=ProcessSpec("c", [sys.executable, "-c", code], {"X": "1"}, tmp_path)
        )

    pod = {"spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "i"}]}}
    row = WorkerRow(
        name="w1",
        owner_kind="FederatedLearningJob",
        owner_namespace="default",
        owner_name="j",
        role="train",
        pod=__import__("json").dumps(pod),
        phase="Pending",
    )
    store.add_worker(row)
    return store, Runner(store, build), row


def _wait_phase(store: Store, runner: Runner, phase: str, timeout: float = 10.0) -> WorkerRow:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.sync()
        row = store.worker("w1")
        assert row is not None
        if row.phase == phase:
            return row
        time.sleep(0.05)
    raise AssertionError(f"worker did not reach {phase}: {store.worker('w1')}")


def test_runner_exit_codes_and_logs(tmp_path: Path) -> None:
    store, runner, row = _runner(tmp_path, "import os,sys; print('hello', os.environ['X']); sys.exit(3)")
    runner.start(row)
    done = _wait_phase(store, runner, "Failed")
    assert done.exit_code == 3
    assert "hello 1" in Path(done.log_path).read_text()


def test_runner_restarts_on_failure(tmp_path: Path) -> None:
    marker = tmp_path / "ran-once"
    code = f"import pathlib,sys; p=pathlib.Path({str(marker)!r}); first=not p.exists(); p.touch(); sys.exit(1 if first else 0)"
    store, runner, row = _runner(tmp_path, code, policy="OnFailure")
    runner.start(row)
    done = _wait_phase(store, runner, "Succeeded")
    assert done.restarts == 1 and done.exit_code == 0


def test_runner_adopts_a_live_process(tmp_path: Path) -> None:
    store, runner, row = _runner(tmp_path, "import time; time.sleep(1.0)")
    runner.start(row)
    started = store.worker("w1")
    assert started is not None and started.pid
    # a new runner (as after `sedna run` was killed) adopts it by pid and reads its exit file
    fresh = Runner(store, runner.build)
    fresh.sync()
    live = store.worker("w1")
    assert live is not None and live.phase == "Running" and live.pid == started.pid
    done = _wait_phase(store, fresh, "Succeeded")
    assert done.exit_code == 0
    runner.children.clear()


def _as_if_killed_before_recording(store: Store) -> None:
    """The store as a `sedna run` SIGKILLed between launching w1 and storing its pid left it."""
    store.update_worker("w1", pid=None, pid_started=None, phase="Pending", started_at=None)


def test_runner_adopts_a_process_an_interrupted_run_started_but_never_recorded(tmp_path: Path) -> None:
    store, runner, row = _runner(tmp_path, "import time; time.sleep(1.0)")
    runner.start(row)
    started = store.worker("w1")
    assert started is not None and started.pid
    _as_if_killed_before_recording(store)
    fresh = Runner(store, runner.build)
    fresh.sync()
    live = store.worker("w1")
    assert live is not None and live.phase == "Running" and live.pid == started.pid  # not a second process
    done = _wait_phase(store, fresh, "Succeeded")
    log = Path(done.log_path).read_text()
    assert log.count("Z start ") == 1 and "adopted pid" in log, log
    runner.children.clear()


def test_runner_records_the_end_of_a_process_an_interrupted_run_never_recorded(tmp_path: Path) -> None:
    store, runner, row = _runner(tmp_path, "import sys; sys.exit(4)")
    runner.start(row)
    runner.children.pop("w1").wait(10)
    _as_if_killed_before_recording(store)
    fresh = Runner(store, runner.build)
    fresh.sync()
    done = store.worker("w1")
    assert done is not None and done.phase == "Failed" and done.exit_code == 4
    assert Path(done.log_path).read_text().count("Z start ") == 1


def test_expand_matches_kubernetes() -> None:
    assert expand("$(A)/$(B)/$$(A)", {"A": "x"}) == "x/$(B)/$(A)"


def _open_store(state_dir: str) -> None:
    from sedna_operator.runtime.local.store import Store as _Store

    _Store(Path(state_dir)).workers()


def test_processes_opening_a_new_state_dir_at_once(tmp_path: Path) -> None:
    """`sedna run` and `sedna get` may create the same new state dir together: SQLite's
    check-then-create of the tables is not atomic, and the loser must not crash."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    failures = 0
    for i in range(10):
        procs = [ctx.Process(target=_open_store, args=(str(tmp_path / f"s{i}"),)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        failures += sum(p.exitcode != 0 for p in procs)
    assert failures == 0


def test_a_port_with_connections_in_time_wait_is_free_for_the_resumed_lc() -> None:
    """The killed run's LC port: its side of a connection it closed sits in TIME_WAIT, which
    must not make the resumed run move its LC away from the workers that report to it."""
    import socket

    from sedna_operator.runtime.local.ports import port_is_free

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the server closes first: its end goes to TIME_WAIT
    client.recv(1)
    client.close()
    server.close()
    assert port_is_free(port)
    # What a plain bind says (the probe before the fix): the port looks taken.
    assert _binds_without_reuse(port) is False


def _binds_without_reuse(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_secret_values_never_reach_the_launch_line_and_state_is_private(tmp_path: Path) -> None:
    """Issue 12 item 8: a secretKeyRef substituted into the arguments is blanked out in the
    worker's log; the state database and the logs are readable by their owner only."""
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "SECRET_ACCESS_KEY"}}}]
    pod = _pod(env)
    pod["spec"]["containers"][0]["args"] = ["--token", "$(TOKEN)"]
    procs = pod_processes(pod, _ctx(tmp_path, secrets={("ns1", "s3"): {"SECRET_ACCESS_KEY": "s3cr3t-v4lue"}}))
    assert "s3cr3t-v4lue" in procs.main.argv  # the worker gets it...
    assert "s3cr3t-v4lue" not in procs.redact(" ".join(procs.main.argv))  # ...its log does not
    assert "--token ******" in procs.redact(" ".join(procs.main.argv))

    from sedna_operator.runtime.local.podenv import PodProcesses, ProcessSpec

    store = Store(tmp_path / "state")
    secret = PodProcesses(
        init=[],
        main=ProcessSpec("c", [sys.executable, "-c", "print('ok')", "s3cr3t-v4lue"], {}, tmp_path),
        secret_values=frozenset({"s3cr3t-v4lue"}),
    )
    runner = Runner(store, lambda _row: secret)
    row = WorkerRow(name="w1", owner_kind="FederatedLearningJob", owner_namespace="default", owner_name="j",
                    role="train", pod='{"spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}}',
                    phase="Pending")
    store.add_worker(row)
    runner.start(row)
    done = _wait_phase(store, runner, "Succeeded")
    log = Path(done.log_path).read_text()
    assert "ok" in log and "s3cr3t-v4lue" not in log
    assert (store.db_path.stat().st_mode & 0o777) == 0o600
    assert (store.logs_dir.stat().st_mode & 0o077) == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "emptied"])
def test_a_broken_state_db_is_one_line_with_the_way_out(tmp_path: Path, damage: str) -> None:
    """Issue 12 item 10: a corrupt state.db gave a 500-line traceback and an emptied one
    silently restarted every job; both are now one line naming the recovery command."""
    import subprocess

    from sedna_operator.runtime.local.store import StateCorrupt

    state = tmp_path / "state"
    store = Store(state)
    store.logs_dir.mkdir(exist_ok=True)
    (store.logs_dir / "w1.log").write_text("ran\n")
    for i in range(200):  # enough pages that a cut lands inside the data
        store.set_meta(f"k{i}", "v" * 200)
    store.close()
    db = state / "state.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    data = db.read_bytes()
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        db.write_bytes(data[: len(data) // 2])
    else:
        db.write_bytes(b"")
    with pytest.raises(StateCorrupt, match=r"move it aside \(mv .*state\.db .*state\.db\.broken\)"):
        Store(state)
    cli = subprocess.run([sys.executable, "-m", "sedna_operator", "get", "--state-dir", str(state)],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert "state.db.broken" in cli.stderr and len(cli.stderr.strip().splitlines()) <= 4
