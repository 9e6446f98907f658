"""LCClient: ordered delivery, buffering while the LC is down (memory and disk), bearer token."""

from __future__ import annotations

from sedna.core.base import wait_until
from sedna.service.client import LCClient
from tests.sdk_core.conftest import FakeLC, free_port


def _msg(i: int) -> dict:
    return {"name": "w1", "namespace": "ns", "ownerName": "job", "ownerKind": "incrementallearningjob",
            "kind": "train", "status": "running", "ownerInfo": {"seq": i}}


def test_reports_buffered_while_lc_down_and_flushed_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SEDNA_REPORT_TOKEN", "s3cret")
    port = free_port()
    client = LCClient(f"http://127.0.0.1:{port}", buffer_dir=tmp_path, attempts=2, flush_interval=0.1)
    for i in range(3):
        assert client.report("w1", _msg(i)) is False  # nobody listens yet
    assert client.pending == 3
    assert len((tmp_path / "lc-reports.jsonl").read_text().splitlines()) == 3

    # a restarted worker finds the buffer on disk
    again = LCClient(f"http://127.0.0.1:{port}", buffer_dir=tmp_path)
    assert again.pending == 3
    again.close()

    lc = FakeLC(port)
    try:
        assert wait_until(lambda: client.pending == 0, 5)  # the background flusher delivers
        assert client.report("w1", _msg(3))
        assert [r["ownerInfo"]["seq"] for r in lc.reports] == [0, 1, 2, 3]
        assert all(h.get("Authorization") == "Bearer s3cret" for h in lc.headers)
        assert (tmp_path / "lc-reports.jsonl").read_text() == ""
    finally:
        client.close()
        lc.stop()


def test_lc_errors_are_retried_then_buffered(fake_lc):
    fake_lc.fail = True
    client = LCClient(fake_lc.url, attempts=2, flush_interval=0.1)
    assert not client.report("w1", _msg(0))
    fake_lc.fail = False
    assert wait_until(lambda: client.pending == 0, 5)
    assert [r["ownerInfo"]["seq"] for r in fake_lc.reports] == [0]
    client.close()


def test_static_send_uses_sedna_signature(fake_lc):
    assert LCClient.send(fake_lc.url, "w1", _msg(9))
    assert fake_lc.paths == ["/sedna/workers/w1/info"]


def test_lc_reporter_reports_counters_when_there_was_activity(fake_lc):
    from sedna.service.lc_reporter import LCReporter

    message = {"name": "edge-x1", "namespace": "default", "ownerName": "ji", "ownerKind": "jointinferenceservice",
               "kind": "inference"}
    reporter = LCReporter(fake_lc.url, message, period_interval=3600)
    assert reporter.report_once() is False  # nothing happened yet
    for _ in range(3):
        reporter.update_for_edge_inference()
    reporter.update_for_collaboration_inference()
    assert reporter.report_once() is True
    body = fake_lc.of_kind("inference")[-1]
    assert body["name"] == "edge-x1" and body["results"] == []
    assert body["ownerInfo"]["inferenceNumber"] == 4 and body["ownerInfo"]["hardExampleNumber"] == 1
    assert body["ownerInfo"]["uploadCloudRatio"] == 0.25
    assert reporter.report_once() is False and "ownerInfo" not in message


def test_non_finite_metrics_are_sent_as_null(fake_lc):
    # a diverged loss is NaN; JSON has no NaN and the LC refuses the literal, so the client
    # sends null instead of losing the (completion) report
    from sedna.service.client import LCClient

    body = {"name": "w-1", "namespace": "default", "ownerName": "j", "ownerKind": "incrementallearningjob",
            "kind": "train", "status": "completed",
            "results": [{"format": "pkl", "url": "/m", "metrics": {"loss": [float("nan")], "acc": float("inf"), "ok": 0.5}}]}
    assert LCClient.send(fake_lc.url, "w-1", body) is True
    got = fake_lc.of_kind("train")[-1]["results"][0]["metrics"]
    assert got == {"loss": [None], "acc": None, "ok": 0.5}
