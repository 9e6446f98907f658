"""Benchmark (not a test): aggregation speed and hard-example-mining overhead.

Run: ``.venv/bin/python bench/bench_aggregation.py [--params 10000000] [--clients 10]``

1. FedAvg of ``clients`` updates of ``params`` float32 parameters (split into a few layers
   of realistic shapes): our FedAvg, Flower's ``aggregate`` on the same arrays (when ``flwr``
   is installed), and a memory-bandwidth baseline (``np.sum`` over the same bytes).
2. HEM cost per sample (CrossEntropy and Threshold, one-by-one and batched) relative to a
   small scikit-learn model's ``predict_proba`` per sample.

Each timing is the best of ``--repeat`` runs; ratios are printed so they compare across
machines.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sedna.algorithms.aggregation import AggClient, FedAvg
from sedna.algorithms.hard_example_mining import CrossEntropyFilter, ThresholdFilter


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_clients(params: int, clients: int, seed: int = 0) -> list[list[np.ndarray]]:
    # a conv-net-like split: most parameters in two big layers, plus small ones
    sizes = [params // 2, params // 4, params // 8]
    sizes.append(params - sum(sizes) - 1000)
    sizes += [500, 500]
    rng = np.random.default_rng(seed)
    base = [rng.standard_normal(s, dtype=np.float32) for s in sizes]
    return [[b + np.float32(0.01 * c) for b in base] for c in range(clients)]


def bench_aggregation(params: int, n_clients: int, repeat: int) -> None:
    weights = make_clients(params, n_clients)
    samples = [100 + 10 * i for i in range(n_clients)]
    agg_clients = [AggClient(num_samples=n, weights=w) for n, w in zip(samples, weights, strict=True)]
    nbytes = sum(a.nbytes for w in weights for a in w)
    print(f"FedAvg of {n_clients} clients x {params:,} float32 params ({nbytes / 2**20:.0f} MiB read)")

    ours = FedAvg()
    t_ours = best_of(lambda: ours.aggregate(agg_clients), repeat)
    t_sum = best_of(lambda: [float(np.sum(a)) for w in weights for a in w], repeat)
    print(f"  ours (sedna FedAvg)         {t_ours * 1e3:8.1f} ms  {nbytes / t_ours / 1e9:6.2f} GB/s")
    print(f"  bandwidth baseline (np.sum) {t_sum * 1e3:8.1f} ms  {nbytes / t_sum / 1e9:6.2f} GB/s")
    print(f"  ours / bandwidth baseline   {t_ours / t_sum:8.2f}x  (goal <= 2)")
    try:
        from flwr.server.strategy.aggregate import aggregate as flwr_aggregate
    except ImportError:
        print("  flwr not installed: Flower comparison skipped (pip install flwr)")
        return
    results = list(zip(weights, samples, strict=True))
    t_flwr = best_of(lambda: flwr_aggregate(results), repeat)
    ref = flwr_aggregate(results)
    got = ours.aggregate(agg_clients)
    err = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(got, ref, strict=True))
    print(f"  Flower aggregate()          {t_flwr * 1e3:8.1f} ms  {nbytes / t_flwr / 1e9:6.2f} GB/s")
    print(f"  Flower / ours (speed-up)    {t_flwr / t_ours:8.2f}x  (goal >= 2); max |diff| {err:.2e}")


def bench_hem(n: int, classes: int, repeat: int) -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(x, y)
    rows = x[np.arange(n) % len(x)]
    print(f"HEM overhead per sample ({n} samples, {classes} classes, sklearn LogisticRegression on digits)")

    t_pred_one = best_of(lambda: [model.predict_proba(r[None, :]) for r in rows[:200]], repeat) / 200
    t_pred_batch = best_of(lambda: model.predict_proba(rows), repeat) / n
    probs = model.predict_proba(rows)
    prob_lists = probs.tolist()
    ce = CrossEntropyFilter(threshold_cross_entropy=0.5)
    t_ce_one = best_of(lambda: [ce(p) for p in prob_lists], repeat) / n
    t_ce_batch = best_of(lambda: ce.batch(probs), repeat) / n
    rng = np.random.default_rng(0)
    boxes = rng.random((n, 5, 6))
    box_lists = boxes.tolist()
    th = ThresholdFilter(threshold=0.5)
    t_th_one = best_of(lambda: [th(b) for b in box_lists], repeat) / n
    t_th_batch = best_of(lambda: th.batch(boxes), repeat) / n
    print(f"  predict_proba, one sample per call  {t_pred_one * 1e6:8.2f} us/sample")
    print(f"  predict_proba, batched              {t_pred_batch * 1e6:8.3f} us/sample")
    print(f"  CrossEntropy filter, per call       {t_ce_one * 1e6:8.2f} us/sample "
          f"({t_ce_one / t_pred_one:.1%} of per-sample predict_proba)")
    print(f"  CrossEntropy filter, batch()        {t_ce_batch * 1e6:8.3f} us/sample "
          f"({t_ce_batch / t_pred_batch:.1%} of batched predict_proba)")
    print(f"  Threshold filter, per call          {t_th_one * 1e6:8.2f} us/sample "
          f"({t_th_one / t_pred_one:.1%} of per-sample predict_proba)")
    print(f"  Threshold filter, batch()           {t_th_batch * 1e6:8.3f} us/sample "
          f"({t_th_batch / t_pred_batch:.1%} of batched predict_proba)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hem-samples", type=int, default=20_000)
    args = parser.parse_args()
    bench_aggregation(args.params, args.clients, args.repeat)
    from threadpoolctl import threadpool_limits

    # one BLAS thread: a per-sample predict_proba must not pay for waking a thread pool
    with threadpool_limits(1):
        bench_hem(args.hem_samples, 10, args.repeat)


if __name__ == "__main__":
    main()
