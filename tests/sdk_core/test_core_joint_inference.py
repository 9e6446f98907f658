"""Joint inference: edge worker + cloud BigModelService on 127.0.0.1, with a recording fake LC."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest

from sedna.core.base import wait_until
from sedna.core.joint_inference import BigModelService, JointInference
from sedna.core.joint_inference.joint_inference import CloudBreaker
from tests.sdk_core.conftest import free_port
from tests.sdk_core.sdk_models import ProbaEstimator, SoftmaxEstimator, load_digits_xy, trained

HEM = {"method": "CrossEntropy", "param": {"threshold_cross_entropy": "0.35"}}


def _flatten(res):
    return [float(p) for p in np.asarray(res)[0]]


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    big = trained(SoftmaxEstimator, n=1200, epochs=150)
    path = big.save(str(tmp_path / "big.pkl"))
    port = free_port()
    monkeypatch.setenv("SERVICE_NAME", "ji-demo")
    monkeypatch.setenv("MODEL_URL", path)
    monkeypatch.setenv("BIG_MODEL_BIND_IP", "127.0.0.1")
    monkeypatch.setenv("BIG_MODEL_BIND_PORT", str(port))
    service = BigModelService(estimator=SoftmaxEstimator)
    service.start_background()
    yield service, big, port
    service.stop()


def test_edge_and_cloud_collaborate_and_report(cloud, fake_lc, monkeypatch):
    service, big, port = cloud
    monkeypatch.setenv("WORKER_NAME", "edgeworker-abcde")
    monkeypatch.setenv("NAMESPACE", "default")
    monkeypatch.setenv("BIG_MODEL_IP", "127.0.0.1")
    monkeypatch.setenv("BIG_MODEL_PORT", str(port))
    monkeypatch.setenv("LC_PERIOD", "0.2")
    monkeypatch.delenv("MODEL_URL")
    edge = trained(ProbaEstimator, n=200, epochs=40)
    ji = JointInference(estimator=edge, hard_example_mining=HEM)
    assert ji.job_name == "ji-demo"  # SERVICE_NAME, never Sedna's 'sedna' default

    # the route list answers on GET /<service>
    routes = httpx.get(f"http://127.0.0.1:{port}/ji-demo").json()
    assert any(r["path"] == "/ji-demo/predict" for r in routes)

    x, _ = load_digits_xy()
    hard = 0
    for sample in x[1500:1520]:
        is_hard, res, edge_res, cloud_res = ji.inference(sample.reshape(1, -1), post_process=_flatten)
        assert np.asarray(edge_res).shape == (1, 10)
        if is_hard:
            hard += 1
            assert cloud_res == [int(big.predict(sample.reshape(1, -1))[0])]
            assert res == cloud_res
        else:
            assert cloud_res is None and res == _flatten(edge_res)
    assert 0 < hard < 20  # a weak edge model: some, not all, go to the cloud

    assert wait_until(lambda: bool(fake_lc.of_kind("inference")), 5)
    body = fake_lc.of_kind("inference")[-1]
    assert fake_lc.paths[-1] == "/sedna/workers/edgeworker-abcde/info"
    assert set(body) == {"name", "namespace", "ownerName", "ownerKind", "kind", "status", "ownerInfo"}
    assert body["name"] == "edgeworker-abcde"
    assert body["namespace"] == "default"
    assert body["ownerName"] == "ji-demo"
    assert body["ownerKind"] == "jointinferenceservice"
    assert body["status"] == "running"
    info = body["ownerInfo"]
    assert {"startTime", "updateTime", "inferenceNumber", "hardExampleNumber", "uploadCloudRatio"} <= set(info)
    assert info["inferenceNumber"] == 20 and info["hardExampleNumber"] == hard
    assert info["uploadCloudRatio"] == pytest.approx(hard / 20)
    # /metrics exposes the request counter
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert "sedna_inference_requests_total" in metrics
    ji.lc_reporter.stop()


def test_cloud_down_falls_back_to_edge_and_counts(monkeypatch):
    monkeypatch.setenv("SERVICE_NAME", "ji-down")
    monkeypatch.setenv("BIG_MODEL_IP", "127.0.0.1")
    monkeypatch.setenv("BIG_MODEL_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("LC_SERVER", f"http://127.0.0.1:{free_port()}")
    ji = JointInference(estimator=trained(ProbaEstimator, n=100, epochs=2),
                        hard_example_mining={"method": "CloudOnly"})
    x, _ = load_digits_xy()
    for sample in x[:3]:
        is_hard, res, edge_res, cloud_res = ji.inference(sample.reshape(1, -1))
        assert is_hard and cloud_res is None
        np.testing.assert_array_equal(res, edge_res)
    assert ji.lc_reporter.cloud_failure_number == 3
    assert ji.lc_reporter.owner_info()["cloudFailureNumber"] == 3
    ji.lc_reporter.stop()


def test_cloud_breaker_skips_the_cloud_after_a_failure_then_probes() -> None:
    now = [100.0]
    breaker = CloudBreaker(retry=5, max_retry=12, clock=lambda: now[0])
    assert breaker.allow()
    assert breaker.failed() == 5 and not breaker.allow()
    now[0] += 4.9
    assert not breaker.allow()
    now[0] += 0.1
    assert breaker.allow()  # one probe
    assert breaker.failed() == 10  # it failed too: twice as long
    now[0] += 10
    assert breaker.failed() == 12  # capped
    now[0] += 12
    assert breaker.allow() and breaker.succeeded() and breaker.allow()
    assert breaker.failed() == 5  # a success resets the backoff
    assert not CloudBreaker().succeeded()  # closing a closed breaker says so


def test_partitioned_edge_calls_the_cloud_once_per_backoff(monkeypatch):
    """Cloud unreachable: the first hard example tries it, the next ones within the backoff are
    answered at the edge at once (each counted as a cloud failure), then a probe succeeds."""
    monkeypatch.setenv("SERVICE_NAME", "ji-partition")
    monkeypatch.setenv("LC_SERVER", f"http://127.0.0.1:{free_port()}")
    ji = JointInference(estimator=trained(ProbaEstimator, n=100, epochs=2), hard_example_mining={"method": "CloudOnly"})
    calls: list[int] = []
    up = [False]

    def cloud(x, **_):
        calls.append(1)
        if not up[0]:
            raise httpx.ConnectError("no route to host")
        return {"result": [7]}

    monkeypatch.setattr(ji.cloud, "inference", cloud)
    now = [0.0]
    ji.breaker.clock = lambda: now[0]
    x, _ = load_digits_xy()
    for _ in range(4):
        ji.inference(x[:1])
    assert len(calls) == 1 and ji.lc_reporter.cloud_failure_number == 4
    up[0] = True
    now[0] += 5
    _, res, _, cloud_res = ji.inference(x[:1])
    assert len(calls) == 2 and cloud_res == [7] and res == [7]
    ji.inference(x[:1])
    assert len(calls) == 3 and ji.lc_reporter.cloud_failure_number == 4
    ji.lc_reporter.stop()


def test_mining_then_inference_skips_edge_for_hard_inputs(cloud, monkeypatch):
    _, big, port = cloud
    monkeypatch.setenv("BIG_MODEL_IP", "127.0.0.1")
    monkeypatch.setenv("BIG_MODEL_PORT", str(port))
    monkeypatch.setenv("MINING_MODE", "mining-then-inference")
    monkeypatch.setenv("LC_SERVER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("MODEL_URL")
    ji = JointInference(estimator=trained(ProbaEstimator, n=100, epochs=2),
                        hard_example_mining={"method": "CloudOnly"})
    x, _ = load_digits_xy()
    is_hard, res, edge_res, cloud_res = ji.inference(x[:4])
    assert is_hard and edge_res is None
    assert res == cloud_res == big.predict(x[:4]).tolist()
    ji.lc_reporter.stop()


def _serve(tmp_path, monkeypatch, batching: bool):
    big = trained(SoftmaxEstimator, n=800, epochs=40)
    path = big.save(str(tmp_path / f"m{batching}.pkl"))
    port = free_port()
    monkeypatch.setenv("SERVICE_NAME", "batchsvc")
    monkeypatch.setenv("MODEL_URL", path)
    monkeypatch.setenv("BIG_MODEL_BIND_IP", "127.0.0.1")
    monkeypatch.setenv("BIG_MODEL_BIND_PORT", str(port))
    svc = BigModelService(estimator=SoftmaxEstimator, batching=batching, max_batch_size=64, max_wait_ms=10)
    svc.start_background()
    return svc, port


def _concurrent(port: int, chunks: list[np.ndarray]) -> list[list[int]]:
    out: list[list[int] | None] = [None] * len(chunks)

    def call(i: int) -> None:
        with httpx.Client(timeout=30) as c:
            r = c.post(f"http://127.0.0.1:{port}/batchsvc/predict", json={"data": chunks[i].tolist()})
            r.raise_for_status()
            out[i] = r.json()["result"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(chunks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out  # type: ignore[return-value]


def test_dynamic_batching_gives_identical_results(tmp_path, monkeypatch):
    x, _ = load_digits_xy()
    chunks = [x[i * 3 : i * 3 + 1 + i % 3] for i in range(24)]
    results = {}
    for batching in (False, True):
        svc, port = _serve(tmp_path, monkeypatch, batching)
        try:
            start = time.perf_counter()
            results[batching] = _concurrent(port, chunks)
            elapsed = time.perf_counter() - start
            if batching:
                batcher = svc.server.batcher
                assert batcher is not None and batcher.batches < len(chunks)  # requests were coalesced
                assert max(batcher.batch_sizes) > 3
            print(f"batching={batching}: {len(chunks)} requests in {elapsed * 1000:.0f} ms")
        finally:
            svc.stop()
    assert results[True] == results[False]
    assert [len(r) for r in results[True]] == [len(c) for c in chunks]


def test_bad_inputs_are_refused_alone_and_big_bodies_before_reading(tmp_path, monkeypatch):
    """Issue 12 item 10: a wrongly shaped input is a 422 that names only the error's type (not
    the model's internals) and, batched with good requests, fails only itself; a body over
    max_buffer_size is a 413."""
    x, _ = load_digits_xy()
    svc, port = _serve(tmp_path, monkeypatch, batching=True)
    try:
        url = f"http://127.0.0.1:{port}/batchsvc/predict"
        out: dict[str, httpx.Response] = {}

        def call(key: str, data: list) -> None:
            with httpx.Client(timeout=30) as c:
                out[key] = c.post(url, json={"data": data})

        bodies = {"good0": x[:2].tolist(), "bad": [[0.5] * 7, [0.5] * 7], "good1": x[2:5].tolist()}
        threads = [threading.Thread(target=call, args=item) for item in bodies.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert out["bad"].status_code == 422, out["bad"].text
        detail = out["bad"].json()["detail"]
        assert detail.startswith("the model could not infer this input (ValueError)") and "matmul" not in detail
        assert out["good0"].status_code == 200 and len(out["good0"].json()["result"]) == 2
        assert out["good1"].status_code == 200 and len(out["good1"].json()["result"]) == 3
        # a declared body over Sedna's 100 MiB max_buffer_size: refused before a byte is read
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /batchsvc/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 104857601\r\n\r\n")
            reply = b""
            while b"max_buffer_size" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 413") and b"max_buffer_size" in reply
    finally:
        svc.stop()


# -- Sedna-release calling conventions (tests/compat runs them end to end) ----------------------


def test_cloud_result_reads_as_the_answer_and_as_the_response_dict(cloud, monkeypatch):
    """Sedna 0.4+ scripts read ``cloud_result[0]``; 0.3 scripts (and HEAD's mining-then-inference,
    whose result is the whole response) read ``cloud_result["result"][0]``: both must work."""
    import json

    from sedna.core.joint_inference.joint_inference import CloudDict, CloudResult

    _, big, port = cloud
    monkeypatch.setenv("BIG_MODEL_IP", "127.0.0.1")
    monkeypatch.setenv("BIG_MODEL_PORT", str(port))
    monkeypatch.setenv("LC_SERVER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("MODEL_URL")
    x, _ = load_digits_xy()
    expected = big.predict(x[:1]).tolist()
    for mode in ("inference-then-mining", "mining-then-inference"):
        monkeypatch.setenv("MINING_MODE", mode)
        ji = JointInference(estimator=trained(ProbaEstimator, n=100, epochs=2), hard_example_mining={"method": "CloudOnly"})
        is_hard, res, _, cloud_res = ji.inference(x[:1])
        assert is_hard
        assert cloud_res == expected and cloud_res[0] == expected[0]  # Sedna 0.4+
        assert cloud_res["result"] == expected and cloud_res.get("result") == expected  # Sedna 0.3
        assert res["result"][0] == expected[0]  # HEAD, mining-then-inference
        assert json.loads(json.dumps(cloud_res)) == expected  # still a plain JSON list
        with pytest.raises(KeyError):
            cloud_res["other"]
        ji.lc_reporter.stop()
    answer = CloudDict({"label": 3})
    assert answer["result"] == {"label": 3} and answer["label"] == 3
    assert CloudDict({"result": [1]})["result"] == [1]
    assert isinstance(CloudResult([1]), list)


def test_last_period_is_reported_when_the_edge_worker_exits(fake_lc):
    """A finite stream ends before ``LC_PERIOD``: the counts still reach the LC (at exit)."""
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from sedna.core.joint_inference import JointInference\n"
        "class Est:\n"
        "    def predict(self, data, **kwargs):\n"
        "        return np.full((1, 10), 0.1)\n"
        "ji = JointInference(estimator=Est, hard_example_mining={'method': 'EdgeOnly'})\n"
        "for _ in range(7):\n"
        "    ji.inference(np.zeros((1, 64)))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin", "LC_SERVER": fake_lc.url, "SERVICE_NAME": "ji-exit", "WORKER_NAME": "ji-exit-edge",
        "NAMESPACE": "default", "LC_PERIOD": "3600", "BACKEND_TYPE": "SKLEARN", "BIG_MODEL_IP": "127.0.0.1",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    reports = fake_lc.of_kind("inference")
    assert reports and reports[-1]["ownerInfo"]["inferenceNumber"] == 7


def test_the_exit_report_is_sent_once_and_not_after_stop(monkeypatch, fake_lc):
    from sedna.service.lc_reporter import _REPORTERS

    monkeypatch.setenv("SERVICE_NAME", "ji-stopped")
    monkeypatch.setenv("LC_PERIOD", "3600")
    x, _ = load_digits_xy()
    ji = JointInference(estimator=trained(ProbaEstimator, n=100, epochs=2), hard_example_mining={"method": "EdgeOnly"})
    assert ji.lc_reporter in _REPORTERS  # flushed by the exit hook
    ji.inference(x[:1])
    assert ji.lc_reporter.flush() and not ji.lc_reporter.flush()  # nothing new: nothing sent
    ji.inference(x[:1])
    ji.lc_reporter.stop()
    assert not ji.lc_reporter.flush()
    mine = [r for r in fake_lc.of_kind("inference") if r["ownerName"] == "ji-stopped"]
    assert [r["ownerInfo"]["inferenceNumber"] for r in mine] == [1]


class _HubEstimator(SoftmaxEstimator):
    """Written for Sedna HEAD's MODEL_LOAD_MODE: ``load`` resolves a model id (no local file)."""

    hub: dict[str, str] = {}

    def load(self, model_url: str | None = None, **kwargs):  # type: ignore[override]
        import os

        model_url = model_url or os.environ["MODEL_URL"]
        return super().load(self.hub[model_url.strip("/")])


def test_non_file_model_load_mode_hands_the_url_to_the_estimator(tmp_path, monkeypatch):
    big = trained(SoftmaxEstimator, n=600, epochs=40)
    _HubEstimator.hub = {"digits-hub/big": big.save(str(tmp_path / "big.pkl"))}
    port = free_port()
    monkeypatch.setenv("SERVICE_NAME", "ji-hub")
    monkeypatch.setenv("MODEL_URL", "/digits-hub/big")  # a model id, not a file
    monkeypatch.setenv("BIG_MODEL_BIND_IP", "127.0.0.1")
    monkeypatch.setenv("BIG_MODEL_BIND_PORT", str(port))
    with pytest.raises(FileNotFoundError):  # file mode (the default) needs the file
        BigModelService(estimator=_HubEstimator).start_background()
    monkeypatch.setenv("MODEL_LOAD_MODE", "hf")
    service = BigModelService(estimator=_HubEstimator)
    service.start_background()
    try:
        x, _ = load_digits_xy()
        got = httpx.post(f"http://127.0.0.1:{port}/ji-hub/predict", json={"data": x[:3].tolist()}).json()
        assert got["result"] == big.predict(x[:3]).tolist()
    finally:
        service.stop()
    # the edge worker too
    monkeypatch.setenv("LC_SERVER", f"http://127.0.0.1:{free_port()}")
    ji = JointInference(estimator=_HubEstimator, hard_example_mining={"method": "EdgeOnly"})
    assert ji.inference(x[:3])[1].tolist() == big.predict(x[:3]).tolist()
    ji.lc_reporter.stop()


def test_the_big_model_applies_the_callback_the_request_names(cloud, monkeypatch):
    """Sedna's predict body ``{"data", "callback"}``: a CALLBACK registered in the cloud process;
    an edge script asks for it with a ``callback=`` keyword to ``inference``."""
    from sedna.common.class_factory import ClassFactory, ClassType

    @ClassFactory.register(ClassType.CALLBACK, alias="compat_plus_100")
    def plus_100(result):
        return [int(v) + 100 for v in result]

    _, big, port = cloud
    x, _ = load_digits_xy()
    url = f"http://127.0.0.1:{port}/ji-demo/predict"
    plain = big.predict(x[:2]).tolist()
    assert httpx.post(url, json={"data": x[:2].tolist()}).json()["result"] == plain
    assert httpx.post(url, json={"data": x[:2].tolist(), "callback": "compat_plus_100"}).json()["result"] == [
        v + 100 for v in plain
    ]
    monkeypatch.setenv("BIG_MODEL_IP", "127.0.0.1")
    monkeypatch.setenv("BIG_MODEL_PORT", str(port))
    monkeypatch.setenv("LC_SERVER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("MODEL_URL")
    ji = JointInference(estimator=trained(ProbaEstimator, n=100, epochs=2), hard_example_mining={"method": "CloudOnly"})
    _, res, _, cloud_res = ji.inference(x[:1], callback="compat_plus_100")
    assert cloud_res == [plain[0] + 100] and res == cloud_res
    ji.lc_reporter.stop()


def test_check_server_status_is_none_while_the_cloud_is_down():
    # Sedna's scripts loop `while not check_server_status()`: unreachable must not raise
    from sedna.service.client import ModelClient
    from tests.sdk_core.conftest import free_port

    assert ModelClient("sedna", host="127.0.0.1", port=free_port(), timeout=1).check_server_status() is None


class _Echo:
    def inference(self, data, post_process=None):
        return data


def _raw_post(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        reply = b""
        try:
            for part in body_parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the rest was sent
        while b"\r\n\r\n" not in reply or b"max_buffer_size" not in reply and b"result" not in reply:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            reply += chunk
    return reply


def test_a_chunked_or_understated_body_is_cut_at_max_buffer_size():
    """Issue 12 item 10: without (or with a false) Content-Length the limit is enforced on the
    bytes read, so a chunked body cannot make the server buffer more than max_buffer_size."""
    from sedna.service.server.inference import InferenceServer

    port = free_port()
    server = InferenceServer(_Echo(), servername="echo", host="127.0.0.1", http_port=port, max_buffer_size=4096)
    server.start_background()
    try:
        head = (b"POST /echo/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b'{"data": [' + b"1," * 2000
        chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] + [b"%x\r\n%s\r\n" % (len(b"1," * 2000), b"1," * 2000)] * 200
        reply = _raw_post(port, head, chunks)
        assert reply.startswith(b"HTTP/1.1 413") and b"more than 4096 bytes exceeds max_buffer_size" in reply, reply[:300]
        # a small chunked body still works
        small = b'{"data": [1, 2, 3]}'
        reply = _raw_post(port, head, [b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small)])
        assert reply.startswith(b"HTTP/1.1 200") and b'"result":[1,2,3]' in reply, reply[:300]
    finally:
        server.stop()
