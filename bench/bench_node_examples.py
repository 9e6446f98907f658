"""Benchmark (not a test): each example from ``kubectl apply`` to done on the real-node cluster,
against the same example under ``sedna run`` on this machine, measured in the same run.

Run as root (it uses the e2e/node cluster, bringing it up and building the images if needed):
``sudo .venv/bin/python bench/bench_node_examples.py [--examples federated_learning,...]``

For each example, one at a time:

1. cluster: stage its data on the nodes, ``kubectl apply -f examples/<name>/``, wait for its end
   state (the same waits as tests/node), and split the time into
   - the operator's own share: the growth of ``sedna_operator_reconcile_seconds_sum`` (time in
     observe + plan + apply) read from the operator pod's ``/metrics`` through the API server;
   - pod start: for every worker pod, creation -> its container started (kubelet, containerd,
     image, init container);
2. with ``--loss``/``--delay-ms``: the cluster run again with the edge node's link shaped
   (each way: iptables loss, the NFQUEUE delay line), and the slowdown against the clean run;
3. local: ``sedna run -f`` of a copy of the example directory, wall clock to exit.

The LCs count dataset samples every 5 s on the cluster (the tests' chart values) and every 1 s
under ``sedna run``; the ratio cluster/local compares across machines, the seconds do not.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.node.conftest import CHART_VALUES  # noqa: E402
from tests.support.node import CHART_NAMESPACE, E2E, open_session  # noqa: E402

EXAMPLES = ("federated_learning", "joint_inference", "incremental_learning", "lifelong_learning")
TIMEOUT = 600.0


def reconcile_seconds(e2e: E2E) -> float:
    """Total seconds the operator spent reconciling, from its Prometheus metrics."""
    pod = e2e.json("-n", CHART_NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=operator")["items"][0]
    text = e2e.kubectl("get", "--raw", f"/api/v1/namespaces/{CHART_NAMESPACE}/pods/{pod['metadata']['name']}:8080/proxy/metrics").stdout
    return sum(float(v) for v in re.findall(r"^sedna_operator_reconcile_seconds_sum\{[^}]*\} (\S+)$", text, re.M))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def pod_start_seconds(e2e: E2E, ns: str) -> float:
    """Sum over the namespace's pods of creation -> first container started."""
    total = 0.0
    for pod in e2e.json("-n", ns, "get", "pods")["items"]:
        created = _time(pod["metadata"]["creationTimestamp"])
        starts = []
        for cs in pod["status"].get("containerStatuses") or []:
            for state in (cs.get("state") or {}, cs.get("lastState") or {}):
                detail = state.get("running") or state.get("terminated") or {}
                if detail.get("startedAt"):
                    starts.append(_time(detail["startedAt"]))
        if starts:
            total += (min(starts) - created).total_seconds()
    return total


def on_cluster(e2e: E2E, example: str, tag: str = "") -> dict[str, float]:
    ns = f"bench-{tag}{example.replace('_', '-')}"
    e2e.stage_example(example, ns)
    before = reconcile_seconds(e2e)
    start = time.monotonic()
    e2e.apply_example(example, ns)
    e2e.wait_example_done(example, ns, TIMEOUT)
    took = time.monotonic() - start
    out = {"cluster": took, "operator": reconcile_seconds(e2e) - before, "pod start": pod_start_seconds(e2e, ns)}
    e2e.kubectl("delete", "namespace", ns, "--wait=false")
    return out


def local(example: str) -> float:
    with tempfile.TemporaryDirectory(prefix="sedna-bench-") as tmp:
        copy = Path(tmp) / example
        shutil.copytree(REPO / "examples" / example, copy, ignore=shutil.ignore_patterns("output", ".sedna"))
        start = time.monotonic()
        proc = subprocess.run(
            [str(REPO / ".venv" / "bin" / "sedna"), "run", "-f", str(copy), "-q", "--state-dir", str(Path(tmp) / "state"),
             "--timeout", str(int(TIMEOUT))],
            capture_output=True, text=True, cwd=tmp,
        )  # fmt: skip
        took = time.monotonic() - start
        if proc.returncode != 0:
            raise RuntimeError(f"sedna run of {example} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", default=",".join(EXAMPLES))
    parser.add_argument("--loss", type=float, default=0.0, help="also run over an edge link losing this %% of packets")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="also run over an edge link with this delay, each way (ms)")
    args = parser.parse_args()
    examples = [e for e in args.examples.split(",") if e]
    shaped = bool(args.loss or args.delay_ms)
    session = open_session()
    how = ""
    try:
        session.e2e.install_chart(CHART_VALUES)
        rows = []
        for example in examples:
            cluster = on_cluster(session.e2e, example)
            if shaped:
                how = session.e2e.nodes.set_quality("edge-node", args.loss, args.delay_ms)
                try:
                    cluster["shaped"] = on_cluster(session.e2e, example, "shaped-")["cluster"]
                finally:
                    session.e2e.nodes.set_quality("edge-node")
            rows.append((example, cluster, local(example)))
            print(f"{example}: done", file=sys.stderr, flush=True)
    finally:
        session.teardown()
    extra = f" {'shaped':>8} {'slowdown':>9}" if shaped else ""
    print(f"{'example':<22} {'apply->done':>12} {'sedna run':>10} {'ratio':>6} {'operator':>9} {'pod start':>10}{extra}")
    for example, cluster, local_s in rows:
        line = (
            f"{example:<22} {cluster['cluster']:>11.1f}s {local_s:>9.1f}s {cluster['cluster'] / local_s:>6.2f}"
            f" {cluster['operator']:>8.2f}s {cluster['pod start']:>9.1f}s"
        )
        if shaped:
            line += f" {cluster['shaped']:>7.1f}s {cluster['shaped'] / cluster['cluster']:>9.2f}"
        print(line)
    print("operator: time in reconciles (observe + plan + apply); pod start: summed over the example's pods")
    if shaped:
        print(f"shaped: the edge link with {how}; slowdown: shaped / clean apply->done")


if __name__ == "__main__":
    main()
