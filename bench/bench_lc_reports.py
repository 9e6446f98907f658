"""Benchmark (not a test): worker reports per second through a real LC on 127.0.0.1.

Run: ``.venv/bin/python bench/bench_lc_reports.py [--reports 5000] [--concurrency 32] [--max-seconds 30]``

For each sink (in-memory, then SQLite with group commit) an LC is started in a child
process (uvicorn on a free loopback port, auth on, per-job tokens) and a load client posts
Sedna's report body from ``--workers`` distinct workers, each with increasing sequences,
over ``--concurrency`` keep-alive connections. The run stops at ``--reports`` reports or
``--max-seconds``, whichever comes first. It prints reports/s, latency percentiles, and
the SQLite/memory throughput ratio (the in-memory sink is the baseline measured in the
same run, so the ratio compares across machines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SECRET = "bench-secret"
NAMESPACE = "default"
JOB = "bench-job"


def serve_child(sink_kind: str, db: str) -> None:
    """Child mode: run an LC, print its port, stop when stdin closes."""
    from sedna_operator.lc import LCServer, LCSettings, MemoryReportSink, SQLiteSink

    sink = SQLiteSink(db) if sink_kind == "sqlite" else MemoryReportSink()
    with LCServer(LCSettings.for_local(secret=SECRET, log_level="WARNING"), sink) as lc:
        print(lc.port, flush=True)
        sys.stdin.read()
    if isinstance(sink, SQLiteSink):
        print(f"rows={len(sink.report_log())}", flush=True)
        sink.close()


def body(worker: str, seq: int) -> dict[str, object]:
    return {
        "name": worker,
        "namespace": NAMESPACE,
        "ownerName": JOB,
        "ownerKind": "incrementallearningjob",
        "kind": "train",
        "status": "running",
        "ownerInfo": {"round": seq},
        "results": [
            {"format": "pb", "url": f"/out/train/{seq}/model.pb", "metrics": {"precision": [0.9, 0.8]}}
        ],
        "sequence": seq,
    }


class RawClient:
    """A minimal keep-alive HTTP/1.1 client (one request = one write), so the load generator
    spends little CPU and the numbers show the LC rather than the client library."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def post(self, path: str, payload: bytes) -> int:
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        self.writer.write(head + payload)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def load(
    url: str, reports: int, workers: int, concurrency: int, max_seconds: float
) -> dict[str, float]:
    from sedna_operator.lc import report_token

    headers = {"Authorization": f"Bearer {report_token(SECRET, NAMESPACE, 'IncrementalLearningJob', JOB)}"}
    latencies: list[float] = []
    failures = 0
    next_id = 0
    deadline = time.perf_counter() + max_seconds
    port = int(url.rsplit(":", 1)[1])
    token = headers["Authorization"].split()[1]
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def one_client(cid: int) -> None:
            nonlocal next_id, failures
            raw = RawClient("127.0.0.1", port, token)
            await raw.connect()
            # each client owns a disjoint set of workers, so its sequences stay ordered
            mine = [f"w{w}" for w in range(workers) if w % concurrency == cid] or [f"w-extra-{cid}"]
            seqs = dict.fromkeys(mine, 0)
            i = 0
            while next_id < reports and time.perf_counter() < deadline:
                next_id += 1
                worker = mine[i % len(mine)]
                i += 1
                seqs[worker] += 1
                start = time.perf_counter()
                code = await raw.post(
                    f"/sedna/workers/{worker}/info", json.dumps(body(worker, seqs[worker])).encode()
                )
                latencies.append(time.perf_counter() - start)
                if code != 200:
                    failures += 1
            await raw.close()

        # warm-up: connections and code paths
        await client.get("/healthz")
        start = time.perf_counter()
        await asyncio.gather(*(one_client(c) for c in range(concurrency)))
        elapsed = time.perf_counter() - start
        metrics = (await client.get("/metrics")).text
    server = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith(("sedna_lc_report_seconds_sum", "sedna_lc_report_seconds_count"))
    }
    latencies.sort()
    return {
        "reports": len(latencies),
        "failures": failures,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "server_us": 1e6
        * server["sedna_lc_report_seconds_sum"]
        / max(server["sedna_lc_report_seconds_count"], 1),
    }


def run(sink_kind: str, concurrency: int, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    db = str(tmp / f"lc-{sink_kind}-{concurrency}.db")
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", sink_kind, "--db", db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    try:
        port = int(child.stdout.readline())
        result = asyncio.run(
            load(f"http://127.0.0.1:{port}", args.reports, args.workers, concurrency, args.max_seconds)
        )
    finally:
        child.stdin.close()
        tail = child.stdout.read()
        child.wait(timeout=30)
    if sink_kind == "sqlite":
        result["rows"] = float(tail.split("rows=")[1]) if "rows=" in tail else -1
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--concurrency", default="1,16", help="comma-separated client concurrencies")
    parser.add_argument("--max-seconds", type=float, default=20.0)
    parser.add_argument("--serve", choices=["memory", "sqlite"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_child(args.serve, args.db)
        return
    print(
        f"LC report bench: up to {args.reports} reports / {args.max_seconds:.0f} s per run, {args.workers} workers"
    )
    print(
        "(client and server share this machine's CPUs; server time is the LC's own handling time per report)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            results = {}
            for kind in ("memory", "sqlite"):
                r = results[kind] = run(kind, concurrency, args, Path(tmp))
                extra = f"  rows committed={int(r['rows'])}" if "rows" in r else ""
                print(
                    f"c={concurrency:<3} {kind:>6} sink: {int(r['reports'])} reports in {r['seconds']:.2f} s"
                    f" = {r['rps']:.0f} reports/s  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms"
                    f"  server {r['server_us']:.0f} us/report  failures {int(r['failures'])}{extra}"
                )
            ratio = results["sqlite"]["rps"] / results["memory"]["rps"]
            print(f"c={concurrency:<3} sqlite/memory throughput ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
