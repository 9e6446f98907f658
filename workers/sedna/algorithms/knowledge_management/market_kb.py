"""Lifelong learning with the model market as the knowledge base (``KB_BACKEND=market``).

:class:`MarketKnowledgeBase` implements the SDK's
:class:`~sedna.algorithms.knowledge_management.knowledge_base.KnowledgeBase` protocol:

* **store**: every trained task model enters the market with the RKME statistical specification
  of its task's training inputs and the task's *unseen profile* (the market's
  ``sedna_market.unseen.fit_unseen_profile``).  Both are computed here, in the training
  worker; only reduced sets, per-feature means/deviations and the calibrated threshold leave it,
  never the raw samples.  With no server URL the market is in-process (the market's
  ``TaskMarket``, SQLite under ``OUTPUT_URL/market``); with ``KB_SERVER`` it is the market REST
  service.  The profile is stored in the task's package (``unseen_profile.json``) and copied into
  the job's index.
* **unseen**: the profile standardises a sample with the task's own per-feature mean and (floored)
  deviation, scores it with ``-log`` of the task's kernel mean embedding in those coordinates (a
  monotone function of the point-mass squared MMD that does not saturate) and divides by the
  task's threshold: ``margin`` x the ``quantile`` of the scores of the task's *held-out* samples
  (``folds``-fold cross-fitting at training time).  ``nearest_task`` reports the lowest
  ``score / threshold`` over the tasks: as with the local index, above 1 means unseen.
* **allocate**: a sample goes to the task model of the task of lowest ``score / threshold``.
  Profiles are read from the market (the in-process task market, or each task's package
  downloaded from the service) and cached; the copy kept in the job's index is the fallback when
  the market cannot be reached.

Calibration settings (job parameters): ``kb_unseen_quantile`` (0.99), ``kb_unseen_margin`` (1.0),
``kb_unseen_folds`` (5), ``kb_unseen_scale_floor`` (0.2) and ``kb_unseen_gamma_scale`` (8); see
the market's ``sedna_market.unseen``.  Indexes written before profiles existed (no ``profile`` per task)
keep the earlier rule: squared MMD under the job's shared kernel over a threshold calibrated on the
training samples themselves.

The plain RKME specs stored for the market's statistical search share one kernel width: ``gamma``
when given, else ``1 / (d * mean feature variance of all training samples)``, fixed at the first
training and reused when tasks are retrained.  Specs are therefore computed when the index is
saved, once every task of the round is known.

This module never imports the market package: the market plugs in as the ``market`` entry of
the ``sedna.knowledge_bases`` entry point group (:mod:`~sedna.algorithms.knowledge_management.backends`)
and is driven through the :class:`MarketOps` protocol.  This module (and the registrations below)
load in workers without the ``market`` extra; only constructing a :class:`MarketKnowledgeBase`
needs the backend.

Registered aliases: ``MarketKnowledgeBase`` (ClassType.KM), ``SampleRegonitionByMarket`` and
``SampleRecognitionByMarket`` (ClassType.UTD), ``TaskAllocationByMarket`` (ClassType.STP).
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sedna.algorithms.knowledge_management.backends import BackendUnavailable, load_backend
from sedna.algorithms.knowledge_management.knowledge_base import INDEX_FILE, LocalKnowledgeBase
from sedna.algorithms.seen_task_learning.artifact import TaskGroup, features, sample_count, subset
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = [
    "KB_BACKEND_ENV",
    "MARKET_BACKEND",
    "MarketKnowledgeBase",
    "MarketOps",
    "SampleRegonitionByMarket",
    "TaskAllocationByMarket",
    "TaskModelRef",
    "market_available",
]

LOG = logging.getLogger("sedna.kb.market")

#: parameter / environment variable selecting the knowledge-base backend (``local`` or ``market``)
KB_BACKEND_ENV = "KB_BACKEND"
#: name of the model market's entry in the ``sedna.knowledge_bases`` entry point group
MARKET_BACKEND = "market"
#: attribute set on every task group of an index written by the market KB (the shared section)
GROUP_ATTR = "kb_market"
SECTION = "market"

# in-process markets and task specs fetched from a service, shared by the KB objects of a process
_MARKETS: dict[str, Any] = {}
#: (server, task id) -> (spec, profile or None) read from the task's package
_REMOTE: dict[tuple[str, str], tuple[Any, Any]] = {}
_GROUPS: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


class MarketOps(Protocol):
    """What the SDK needs from a model market (the ``market`` backend's object).

    Specs and profiles are the market's own objects; the SDK uses ``spec.gamma``,
    ``spec.to_dict()``, ``profile.threshold``, ``profile.dim``, ``profile.to_dict()`` and
    ``profile.normalised(x)`` (``score / threshold`` per sample).  A task market has
    ``gamma``, ``add_task_model(model, x, semantic=, spec=, profile=) -> id``,
    ``remove_task(id)``, ``spec(id)`` and ``profile(id)``; a stacked group has ``ids`` and ``size``.
    """

    def rkme_spec(self, x: np.ndarray, gamma: float, reduced_set_size: int) -> Any: ...
    def spec_from_dict(self, data: dict[str, Any]) -> Any: ...
    def fit_profile(self, x: np.ndarray, quantile: float, margin: float, folds: int, reduced_set_size: int,
                    scale_floor: float, gamma_scale: float) -> Any: ...
    def profile_from_dict(self, data: dict[str, Any]) -> Any: ...
    def semantic_spec(self, name: str, description: str, dimension: int) -> Any: ...
    def stack_specs(self, items: list[tuple[str, Any]]) -> list[Any]: ...
    def point_distances(self, x: np.ndarray, group: Any, gamma: float) -> np.ndarray: ...
    def task_market(self, db_url: str, storage_dir: str, gamma: float, **options: Any) -> Any: ...
    def submit(self, server: str, token: str | None, model: Any, spec: Any, profile: Any, dimension: int,
               semantic: Any) -> str: ...
    def delete(self, server: str, token: str | None, task_id: str) -> None: ...
    def fetch(self, server: str, task_id: str) -> tuple[Any, Any]: ...


def _market() -> MarketOps:
    """The installed model market, or a RuntimeError that says how to get it."""
    try:
        return load_backend(MARKET_BACKEND)
    except BackendUnavailable as err:
        raise RuntimeError(
            f"KB_BACKEND=market needs the model market (install the 'market' extra): {err}; "
            "without it use the default local knowledge base"
        ) from err


def market_available() -> bool:
    """Whether the model market (the ``market`` extra) is installed and importable."""
    try:
        _market()
    except RuntimeError:
        return False
    return True


@dataclass
class TaskModelRef:
    """Stand-in stored in the market when the task model itself cannot be pickled: it names the
    saved model (``url``) that the job's estimator loads."""

    url: str
    entry: str

    def predict(self, x: Any) -> Any:
        raise RuntimeError(f"task model {self.entry!r} is stored at {self.url}; load it with its estimator")


@dataclass
class _Pending:
    entry: str
    x: np.ndarray
    model_url: str


class MarketKnowledgeBase:
    """Knowledge base of one lifelong-learning job backed by the model market.

    :param root: directory of the job's index (``OUTPUT_URL``); the in-process market lives in
        ``root/market`` unless ``db_url``/``storage_dir`` say otherwise.
    :param server: market REST service (``KB_SERVER``); None for the in-process market.
    :param token: bearer token of the service's write endpoints (``MARKET_API_TOKEN``).
    :param model_loader: ``url -> estimator`` used to put the task model itself in the market.
    """

    #: pipeline steps that lifelong learning switches to the market when the caller left them unset
    pipeline_defaults: dict[str, dict[str, Any]] = {
        "task_allocation": {"method": "TaskAllocationByMarket"},
        "unseen_sample_recognition": {"method": "SampleRegonitionByMarket"},
    }

    def __init__(
        self,
        root: str | os.PathLike[str] = ".",
        server: str | None = None,
        token: str | None = None,
        gamma: float | None = None,
        reduced_set_size: int = 50,
        quantile: float = 0.99,
        margin: float = 1.0,
        model_loader: Callable[[str], Any] | None = None,
        job_name: str = "lifelong",
        db_url: str | None = None,
        storage_dir: str | os.PathLike[str] | None = None,
        folds: int = 5,
        scale_floor: float = 0.2,
        gamma_scale: float = 8.0,
        **kwargs: Any,
    ) -> None:
        self.market = _market()
        self.root = Path(root)
        self.server = server.rstrip("/") if server else None
        self.token = token
        self.gamma = float(gamma) if gamma else None
        self.reduced_set_size = int(reduced_set_size)
        self.quantile = float(quantile)
        self.margin = float(margin)
        self.folds = int(folds)
        self.scale_floor = float(scale_floor)
        self.gamma_scale = float(gamma_scale)
        self.model_loader = model_loader
        self.job_name = job_name
        mdir = self.root / "market"
        self.db_url = db_url or f"sqlite:///{(mdir / 'tasks.db').resolve()}"
        self.storage_dir = Path(storage_dir) if storage_dir else (mdir / "store").resolve()
        self._files = LocalKnowledgeBase(self.root)
        self.index: dict[str, Any] | None = None
        self._pending: list[_Pending] = []
        self._section: dict[str, Any] | None = None

    @classmethod
    def from_parameters(
        cls, root: str, get: Callable[[str, Any], Any], model_loader: Callable[[str], Any] | None = None
    ) -> MarketKnowledgeBase:
        """Build from a job's parameters: ``KB_SERVER``, ``MARKET_API_TOKEN``, ``JOB_NAME`` and the
        optional ``kb_gamma``, ``kb_reduced_set_size``, ``kb_unseen_quantile``, ``kb_unseen_margin``,
        ``kb_unseen_folds``, ``kb_unseen_scale_floor``, ``kb_unseen_gamma_scale``."""
        gamma = get("kb_gamma", None)
        return cls(
            root,
            server=get("KB_SERVER", None) or None,
            token=get("MARKET_API_TOKEN", None) or None,
            gamma=float(gamma) if gamma else None,
            reduced_set_size=int(get("kb_reduced_set_size", 50)),
            quantile=float(get("kb_unseen_quantile", 0.99)),
            margin=float(get("kb_unseen_margin", 1.0)),
            model_loader=model_loader,
            job_name=str(get("JOB_NAME", "lifelong")),
            folds=int(get("kb_unseen_folds", 5)),
            scale_floor=float(get("kb_unseen_scale_floor", 0.2)),
            gamma_scale=float(get("kb_unseen_gamma_scale", 8.0)),
        )

    @property
    def mode(self) -> str:
        """``rest`` when a server URL is set, else ``inprocess``."""
        return "rest" if self.server else "inprocess"

    # -- KnowledgeBase protocol ----------------------------------------------------------------
    def add_task_model(self, group: TaskGroup, model_url: str) -> None:
        """Queue a trained task model with its task's training features; it enters the market
        with its spec when the index is saved (all tasks then share one kernel width)."""
        if group.samples is None:
            return
        x = features(group.samples.x if hasattr(group.samples, "x") else group.samples)
        if len(x):
            self._pending = [p for p in self._pending if p.entry != group.entry]
            self._pending.append(_Pending(group.entry, x, model_url))

    def save_index(self, index: dict[str, Any], name: str = INDEX_FILE) -> str:
        """Store the queued task models in the market, attach the market section to the index
        (and to each of its task groups) and write the index file."""
        section = self._flush(index)
        if section is not None:
            index[SECTION] = section
            for group in index.get("task_groups", []):
                setattr(group, GROUP_ATTR, section)
        url = self._files.save_index(index, name)
        self.index = index
        return url

    def load_index(self, url: str | None = None) -> dict[str, Any]:
        """Read an index file; its market section becomes this KB's previous state."""
        self.index = self._files.load_index(url)
        section = self.index.get(SECTION)
        if isinstance(section, dict):
            self._section = section
        return self.index

    def nearest_task(self, x: Any, index: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per sample: position of the nearest task group in ``index["task_groups"]`` (-1 when the
        job has no market task) and ``score / threshold`` of that task (> 1 means unseen)."""
        return _nearest(index if index is not None else (self.index or {}), x)

    # -- market side ---------------------------------------------------------------------------
    def task_market(self) -> Any:
        """The in-process task market of this job (the market's ``TaskMarket``)."""
        return _open_task_market(self.db_url, str(self.storage_dir), self._gamma_or(0.1), self._tm_options())

    def _tm_options(self) -> dict[str, Any]:
        return {"reduced_set_size": self.reduced_set_size, "quantile": self.quantile, "margin": self.margin,
                "folds": self.folds, "scale_floor": self.scale_floor, "gamma_scale": self.gamma_scale}

    def _gamma_or(self, default: float) -> float:
        if self._section is not None:
            return float(self._section["gamma"])
        return self.gamma if self.gamma is not None else default

    def _flush(self, index: dict[str, Any]) -> dict[str, Any] | None:
        previous = self._section
        if not self._pending:
            return previous
        market = self.market
        if previous is not None:
            gamma = float(previous["gamma"])
        elif self.gamma is not None:
            gamma = self.gamma
        else:
            allx = np.concatenate([p.x for p in self._pending])
            var = float(allx.var(axis=0).mean())
            gamma = 1.0 / (allx.shape[1] * var) if var > 0 else 1.0 / allx.shape[1]
        tasks: dict[str, dict[str, Any]] = {}
        live = {g.entry for g in index.get("task_groups", [])}
        if previous is not None:  # tasks kept from the previous round (not retrained)
            tasks.update({e: t for e, t in previous["tasks"].items() if e in live})
        for item in self._pending:
            spec = market.rkme_spec(item.x, gamma, self.reduced_set_size)
            profile = market.fit_profile(item.x, self.quantile, self.margin, self.folds, self.reduced_set_size,
                                         self.scale_floor, self.gamma_scale)
            old = tasks.get(item.entry)
            tid = self._store(item, spec, profile)
            if old is not None and old["id"] != tid:
                self._remove(old["id"], gamma)
            tasks[item.entry] = {"id": tid, "threshold": profile.threshold, "spec": spec.to_dict(),
                                 "profile": profile.to_dict(), "model_url": item.model_url}
        self._pending.clear()
        section = {
            "backend": "market",
            "mode": self.mode,
            "server": self.server,
            "db_url": self.db_url if self.mode == "inprocess" else None,
            "storage_dir": str(self.storage_dir) if self.mode == "inprocess" else None,
            "gamma": gamma,
            "quantile": self.quantile,
            "margin": self.margin,
            "folds": self.folds,
            "scale_floor": self.scale_floor,
            "gamma_scale": self.gamma_scale,
            "tasks": tasks,
        }
        self._section = section
        return section

    def _model_object(self, item: _Pending) -> Any:
        obj: Any = None
        if self.model_loader is not None:
            try:
                obj = self.model_loader(item.model_url)
                pickle.dumps(obj)
            except Exception as err:  # noqa: BLE001 - any estimator may refuse; keep a reference
                LOG.info("task model %s stored by reference: %s", item.entry, err)
                obj = None
        return obj if obj is not None else TaskModelRef(item.model_url, item.entry)

    def _semantic(self, item: _Pending) -> Any:
        return self.market.semantic_spec(
            f"{self.job_name}-{item.entry}"[:200],
            f"lifelong learning task model '{item.entry}' of job {self.job_name}",
            int(item.x.shape[1]),
        )

    def _store(self, item: _Pending, spec: Any, profile: Any) -> str:
        model = self._model_object(item)
        sem = self._semantic(item)
        if self.mode == "inprocess":
            tm = _open_task_market(self.db_url, str(self.storage_dir), spec.gamma, self._tm_options())
            return str(tm.add_task_model(model, item.x, semantic=sem, spec=spec, profile=profile))
        tid = self.market.submit(self.server or "", self.token, model, spec, profile, int(item.x.shape[1]), sem)
        with _CACHE_LOCK:
            _REMOTE[(self.server or "", tid)] = (spec, profile)
        return tid

    def _remove(self, task_id: str, gamma: float) -> None:
        try:
            if self.mode == "inprocess":
                _open_task_market(self.db_url, str(self.storage_dir), gamma, self._tm_options()).remove_task(task_id)
            else:
                self.market.delete(self.server or "", self.token, task_id)
        except Exception as err:  # noqa: BLE001 - a stale model in the market is not fatal
            LOG.warning("old task model %s not removed from the market: %s", task_id, err)


# -- shared helpers (used by the KB and by the pipeline components) -----------------------------
def section_of(index: Any) -> dict[str, Any] | None:
    """The market section of an index, or of the first task group that carries it."""
    if isinstance(index, dict):
        section = index.get(SECTION)
        if isinstance(section, dict):
            return section
        groups = index.get("task_groups", [])
    else:
        groups = list(index or [])
    for group in groups:
        section = getattr(group, GROUP_ATTR, None)
        if isinstance(section, dict):
            return section
    return None


def _open_task_market(db_url: str, storage_dir: str, gamma: float, options: dict[str, Any] | None = None) -> Any:
    market = _market()
    with _CACHE_LOCK:
        tm = _MARKETS.get(db_url)
        if tm is None or tm.gamma != gamma:
            Path(storage_dir).mkdir(parents=True, exist_ok=True)
            tm = market.task_market(db_url, storage_dir, gamma, **(options or {}))
            _MARKETS[db_url] = tm
        return tm


def _from_market(section: dict[str, Any], task_id: str) -> tuple[Any, Any] | None:
    """The task's ``(spec, profile or None)`` as the market stores them (None when the market
    cannot be reached)."""
    try:
        if section.get("mode") == "rest":
            key = (section["server"], task_id)
            with _CACHE_LOCK:
                got = _REMOTE.get(key)
            if got is None:
                got = _market().fetch(section["server"], task_id)
                with _CACHE_LOCK:
                    _REMOTE[key] = got
            return got
        db_url = section.get("db_url")
        if not db_url:
            return None
        path = db_url.removeprefix("sqlite:///")
        if db_url.startswith("sqlite:///") and not Path(path).is_file():
            return None
        tm = _open_task_market(db_url, section["storage_dir"], float(section["gamma"]))
        spec = tm.spec(task_id)
        return None if spec is None else (spec, tm.profile(task_id))
    except Exception as err:  # noqa: BLE001 - the index's own copy is the fallback
        LOG.warning("task %s not read from the market (%s); using the index copy", task_id, err)
        return None


def _section_key(section: dict[str, Any], kind: str) -> tuple[Any, ...]:
    tasks = section["tasks"]
    return (kind, section.get("mode"), section.get("server"), section.get("db_url"),
            tuple(sorted((e, t["id"], "profile" in t) for e, t in tasks.items())))


def _task_group(section: dict[str, Any]) -> Any:
    """Stacked reduced sets of the job's tasks (cached per section content)."""
    market = _market()
    key = _section_key(section, "specs")
    with _CACHE_LOCK:
        cached = _GROUPS.get(key)
    if cached is not None:
        return cached
    items = []
    for entry, task in section["tasks"].items():
        got = _from_market(section, task["id"])
        items.append((entry, got[0] if got is not None else market.spec_from_dict(task["spec"])))
    groups = market.stack_specs(items)
    if len(groups) != 1:
        raise ValueError("task specs of one job must share one feature shape")
    with _CACHE_LOCK:
        _GROUPS[key] = groups[0]
    return groups[0]


def _task_profiles(section: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """Task entries and their unseen profiles (from the market, else the index copy; cached);
    None for a task of an index written before profiles existed."""
    market = _market()
    key = _section_key(section, "profiles")
    with _CACHE_LOCK:
        cached = _GROUPS.get(key)
    if cached is not None:
        return cached
    entries, profiles = [], []
    for entry, task in section["tasks"].items():
        prof = None
        if "profile" in task:
            got = _from_market(section, task["id"])
            prof = got[1] if got is not None and got[1] is not None else market.profile_from_dict(task["profile"])
        entries.append(entry)
        profiles.append(prof)
    if len({p.dim for p in profiles if p is not None}) > 1:
        raise ValueError("task profiles of one job must share one feature dimension")
    with _CACHE_LOCK:
        _GROUPS[key] = (entries, profiles)
    return entries, profiles


def task_distances(x: np.ndarray, section: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """Task entries and the ``(n_samples, n_tasks)`` squared MMDs of each sample to each task
    (under the job's shared kernel, from the tasks' plain RKME specs)."""
    group = _task_group(section)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(x) == 0:
        return list(group.ids), np.empty((0, group.size))
    return list(group.ids), _market().point_distances(x, group, float(section["gamma"]))


def task_scores(x: np.ndarray, section: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """Task entries and the ``(n_samples, n_tasks)`` normalised unseen scores (> 1: unseen for that
    task): ``score / threshold`` of each task's profile; for a task without one (an index written
    before profiles existed), ``squared MMD / threshold`` of the earlier rule."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    entries, profiles = _task_profiles(section)
    out = np.empty((len(x), len(entries)))
    legacy = [j for j, p in enumerate(profiles) if p is None]
    for j, prof in enumerate(profiles):
        if prof is not None:
            out[:, j] = prof.normalised(x)
    if legacy:
        ids, dist = task_distances(x, section)
        col = {e: i for i, e in enumerate(ids)}
        for j in legacy:
            thr = float(section["tasks"][entries[j]]["threshold"])
            out[:, j] = dist[:, col[entries[j]]] / max(thr, 1e-12)
    return entries, out


# -- pipeline components ----------------------------------------------------------------------
ClassFactory.register_cls(MarketKnowledgeBase, ClassType.KM, "MarketKnowledgeBase")


@ClassFactory.register(ClassType.UTD, alias="SampleRegonitionByMarket")
class SampleRegonitionByMarket:
    """Unseen iff the sample's distance to its nearest market task exceeds that task's
    calibrated threshold; ``seen_index`` / ``unseen_index`` record the split positions."""

    def __init__(self, task_index: Any = None, margin: float | None = None, **kwargs: Any) -> None:
        self.task_index = task_index or {}
        self.margin = float(margin) if margin is not None else None
        self.seen_index = np.zeros(0, dtype=int)
        self.unseen_index = np.zeros(0, dtype=int)
        self.scores = np.zeros(0)
        self.allocation = np.zeros(0, dtype=int)

    def __call__(self, samples: Any, **kwargs: Any) -> tuple[Any, Any]:
        from sedna.algorithms.unseen_task_detection.orientation import with_orientation

        self.allocation, self.scores = _nearest(self.task_index, samples)
        self.scores = with_orientation(self.task_index, samples.x if hasattr(samples, "x") else samples,
                                       self.allocation, self.scores)
        limit = 1.0
        section = section_of(self.task_index)
        if self.margin is not None and section is not None:
            limit = self.margin / float(section.get("margin", 1.0))
        unseen = self.scores > limit
        self.seen_index = np.flatnonzero(~unseen)
        self.unseen_index = np.flatnonzero(unseen)
        return subset(samples, self.seen_index), subset(samples, self.unseen_index)


ClassFactory.register_cls(SampleRegonitionByMarket, ClassType.UTD, "SampleRecognitionByMarket")


@ClassFactory.register(ClassType.STP, alias="TaskAllocationByMarket")
class TaskAllocationByMarket:
    """Each sample to the task group of its nearest market task (lowest normalised unseen score)."""

    def __init__(self, task_extractor: Any = None, task_groups: list[TaskGroup] | None = None,
                 **kwargs: Any) -> None:
        self.task_extractor = task_extractor
        self.task_groups = list(task_groups or [])

    def __call__(self, samples: Any) -> tuple[Any, list[int]]:
        positions, _ = _nearest({"task_groups": self.task_groups}, samples)
        return samples, [int(p) for p in positions]


def _nearest(index: Any, samples: Any) -> tuple[np.ndarray, np.ndarray]:
    x = samples.x if hasattr(samples, "x") else samples
    n = sample_count(samples)
    section = section_of(index)
    if section is None or not section.get("tasks") or n == 0:
        return np.full(n, -1, dtype=int), np.full(n, np.inf)
    groups = index.get("task_groups", []) if isinstance(index, dict) else list(index)
    entries, scores = task_scores(features(x), section)
    best = scores.argmin(axis=1)
    score = scores[np.arange(n), best]
    pos = {g.entry: i for i, g in enumerate(groups)}
    return np.array([pos.get(entries[j], -1) for j in best], dtype=int), score
