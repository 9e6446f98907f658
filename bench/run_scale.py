"""Benchmark (not a test): `sedna run` of N Datasets, for growing N, and how the time grows.

Run: ``.venv/bin/python bench/run_scale.py [--sizes 250,500,1000,2000] [--big 5000] [--repeat 1]``

For each N, one multi-document manifest of N Datasets (all on one small index file) is run
with ``sedna run -q`` on a fresh state directory, as a user runs it; the run ends once every
Dataset is applied and reconciled (there is no job to wait for). It prints the wall time of
each N (the best of ``--repeat``) and the ratio time(2N)/time(N): about 2 means the work is
linear in N, about 4 quadratic (issue 12: 1,000 Datasets took 64 s and 10,000 never ended).
The process start (Python imports, ~1-2 s) is included and flattens the ratio of small N;
``--big`` adds a larger N when the 2,000 run took under 30 s. The ratios, not the times,
compare across machines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEDNA = str(Path(sys.executable).with_name("sedna"))


def write_manifest(directory: Path, n: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.txt").write_text("".join(f"{i} {i % 10}\n" for i in range(20)))
    docs = [
        f"apiVersion: sedna.io/v1alpha1\nkind: Dataset\nmetadata:\n  name: ds-{i:05d}\n"
        "spec:\n  url: ./index.txt\n  format: txt\n  nodeName: edge-node\n"
        for i in range(n)
    ]
    path = directory / "datasets.yaml"
    path.write_text("---\n".join(docs))
    return path


def time_run(root: Path, n: int, repeat: int, limit: float) -> float:
    manifest = write_manifest(root / f"m{n}", n)
    best = float("inf")
    for attempt in range(repeat):
        state = root / f"state{n}-{attempt}"
        started = time.perf_counter()
        proc = subprocess.run(
            [SEDNA, "run", "-q", "-f", str(manifest), "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=limit,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"N={n}: sedna run exited {proc.returncode}\n{proc.stderr[-2000:]}")
        best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000,2000", help="comma-separated N")
    parser.add_argument(
        "--big", type=int, default=5000, help="one more N if the largest took < 30 s (0: none)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per N; the best counts")
    parser.add_argument("--limit", type=float, default=900.0, help="seconds one run may take")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="sedna-run-scale-") as tmp:
        root = Path(tmp)
        for n in sizes:
            times[n] = time_run(root, n, args.repeat, args.limit)
            print(f"N={n:>6}  {times[n]:7.2f} s  {1000 * times[n] / n:6.2f} ms per resource", flush=True)
        if args.big and sizes and times[sizes[-1]] < 30 and args.big not in times:
            times[args.big] = time_run(root, args.big, args.repeat, args.limit)
            print(
                f"N={args.big:>6}  {times[args.big]:7.2f} s  {1000 * times[args.big] / args.big:6.2f} ms per resource"
            )
    print("ratio time(2N)/time(N) (about 2: linear; about 4: quadratic)")
    for n in sorted(times):
        if 2 * n in times:
            print(f"  N={n:>5} -> {2 * n:>5}: {times[2 * n] / times[n]:.2f}")
        elif n * 5 // 2 in times and n * 5 % 2 == 0:
            print(f"  N={n:>5} -> {n * 5 // 2:>5} (x2.5): {times[n * 5 // 2] / times[n]:.2f}")


if __name__ == "__main__":
    main()
