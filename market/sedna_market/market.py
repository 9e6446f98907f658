"""The market: validation + checkers + organizer + searchers behind one object."""

from __future__ import annotations

import logging
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .checkers.sandbox import SandboxLimits
from .checkers.semantic_checker import check_semantic_spec
from .checkers.stat_checker import check_statistical, spec_errors
from .organizer import DONE, PENDING, Organizer, Record
from .package import MAX_YAML_NODES, PackageError, PackageInfo, PackageTooLarge, read_package, safe_extract
from .schemas import LearnwareInfo, MixtureResult, SearchQuery, SearchResponse, SingleResult
from .search.semantic_search import semantic_search
from .search.stat_search import stat_search
from .spec.parsing import SpecDataError, as_object, load_json_object
from .spec.semantic import SemanticSpec
from .spec.stat_types import stat_spec_from_dict
from .status import CheckResult, CheckStatus, merge_results

log = logging.getLogger(__name__)


class SubmissionError(ValueError):
    """A submission was rejected before anything was stored; the message says why."""


class SubmissionTooLarge(SubmissionError):
    """The package is over a per-package size bound (HTTP 413)."""


def parse_semantic(value: SemanticSpec | dict[str, Any] | str | None) -> SemanticSpec | None:
    """Accept a spec object, its dict form or its JSON text."""
    if value is None or isinstance(value, SemanticSpec):
        return value
    try:
        data = load_json_object(value, "semantic_spec") if isinstance(value, str | bytes) else as_object(value, "semantic_spec")
    except SpecDataError as exc:
        raise SubmissionError(str(exc)) from None
    try:
        return SemanticSpec.from_dict(data, "semantic_spec")
    except ValueError as exc:
        raise SubmissionError(f"semantic_spec is malformed: {exc}") from exc


class Market:
    """Learnware-style model market.

    ``submit`` validates synchronously (malformed zip, missing spec, wrong dimensions and bad
    semantic specs are rejected with :class:`SubmissionError`, storing nothing), stores the
    package as pending, then runs the sandboxed statistical check (inline or in a worker pool).
    INVALID results drop the package and keep only the record with its reason.
    """

    def __init__(
        self,
        organizer: Organizer,
        limits: SandboxLimits | None = None,
        check_workers: int = 1,
        run_stat_check: bool = True,
        max_yaml_nodes: int = MAX_YAML_NODES,
    ) -> None:
        self.organizer = organizer
        self.max_yaml_nodes = max_yaml_nodes
        self.limits = limits or SandboxLimits()
        self.run_stat_check = run_stat_check
        self._pool = ThreadPoolExecutor(max_workers=check_workers, thread_name_prefix="market-check")
        self._pending: dict[str, Future[CheckResult]] = {}
        self._pending_lock = threading.Lock()
        if run_stat_check:
            self.resume_pending_checks()

    def resume_pending_checks(self) -> list[str]:
        """Check again every model whose check was still pending when the market stopped (a
        crash or a restart mid-check left it so for good); returns their ids."""
        resumed = [rec.id for rec in self.organizer.list() if rec.check_state == PENDING]
        for mid in resumed:
            log.info("resuming the interrupted check of %s", mid)
            self._start_check(mid)
        return resumed

    def _start_check(self, mid: str) -> Future[CheckResult]:
        fut = self._pool.submit(self._check, mid)
        with self._pending_lock:
            self._pending[mid] = fut
        return fut

    @classmethod
    def open(cls, db_url: str, storage_dir: str | Path, **kwargs: Any) -> Market:
        """Market over a database URL and a storage directory."""
        return cls(Organizer(db_url, storage_dir), **kwargs)

    def close(self) -> None:
        """Wait for running checks and stop the worker pool."""
        self._pool.shutdown(wait=True)

    # -- submission ----------------------------------------------------------------------------
    def validate(self, data: bytes, semantic: SemanticSpec | dict[str, Any] | str | None) -> tuple[PackageInfo, SemanticSpec]:
        """Parse and pre-check a package without storing it."""
        sem = parse_semantic(semantic)
        with tempfile.TemporaryDirectory(prefix="market-validate-") as tmp:
            store = self.organizer.store
            try:
                safe_extract(data, Path(tmp), store.max_package_bytes, store.max_package_files)
                _, info = read_package(Path(tmp), self.max_yaml_nodes)
            except PackageTooLarge as exc:
                raise SubmissionTooLarge(str(exc)) from exc
            except PackageError as exc:
                raise SubmissionError(str(exc)) from exc
        sem = sem or info.semantic_spec
        if sem is None:
            raise SubmissionError("no semantic specification: send semantic_spec or include semantic_specification.json")
        result = check_semantic_spec(sem)
        if result.status == CheckStatus.INVALID:
            raise SubmissionError(result.reason)
        err = spec_errors(sem, info.stat_spec)
        if err:
            raise SubmissionError(err)
        return info, sem

    def submit(
        self,
        data: bytes,
        semantic: SemanticSpec | dict[str, Any] | str | None = None,
        wait: bool = True,
        uploader: str = "",
    ) -> Record:
        """Validate, store and check a package. ``wait=False`` returns while the check runs.
        ``uploader`` is recorded as the model's owner. Raises
        :class:`~sedna_market.storage.QuotaExceeded` over the storage quota."""
        info, sem = self.validate(data, semantic)
        mid = self.organizer.add(data, sem, info.stat_spec, CheckStatus.NONUSABLE, PENDING, "check pending",
                                 uploader=uploader)
        if not self.run_stat_check:
            return self.organizer.update(mid, status=CheckStatus.NONUSABLE, check_state=DONE,
                                         reason="semantic spec ok; statistical check skipped")
        fut = self._start_check(mid)
        if wait:
            fut.result()
        rec = self.organizer.get(mid)
        assert rec is not None
        return rec

    def _check(self, mid: str) -> CheckResult:
        try:
            rec = self.organizer.get(mid)
            pdir = self.organizer.package_dir(mid)
            if rec is None or pdir is None:
                return CheckResult(status=CheckStatus.INVALID, reason="deleted before check")
            root, info = read_package(pdir, self.max_yaml_nodes)
            results = [check_semantic_spec(rec.semantic_spec)]
            results.append(check_statistical(root, info.model, rec.semantic_spec, rec.stat_spec, self.limits))
            final = merge_results(results)
        except Exception as exc:  # noqa: BLE001 - a checker bug must not leave the record pending
            log.exception("check of %s failed", mid)
            final = CheckResult(status=CheckStatus.INVALID, reason=f"checker error: {exc}")
        try:
            self.organizer.update(
                mid,
                status=final.status,
                check_state=DONE,
                reason=final.reason,
                drop_package=final.status == CheckStatus.INVALID,
            )
        except KeyError:
            pass  # deleted while being checked
        finally:
            with self._pending_lock:
                self._pending.pop(mid, None)
        return final

    def wait_checked(self, mid: str, timeout: float | None = None) -> Record | None:
        """Block until ``mid``'s check has finished."""
        with self._pending_lock:
            fut = self._pending.get(mid)
        if fut is not None:
            fut.result(timeout=timeout)
        return self.organizer.get(mid)

    # -- reading -------------------------------------------------------------------------------
    def info(self, rec: Record) -> LearnwareInfo:
        """Public description of a record."""
        return LearnwareInfo(
            id=rec.id,
            name=rec.name,
            status=rec.status,
            status_name=rec.status.name,
            check_state=rec.check_state,
            reason=rec.reason,
            semantic_spec=rec.semantic_spec.to_dict(),
            feature_shape=list(rec.stat_spec.feature_shape),
            created_at=rec.created_at,
            downloadable=rec.blob_sha256 is not None,
            uploader=rec.uploader,
        )

    def delete(self, mid: str) -> bool:
        return self.organizer.delete(mid)

    def search(self, query: SearchQuery) -> SearchResponse:
        """Semantic filter, then statistical ranking when the query has an RKME spec."""
        records = self.organizer.list(searchable_only=True)
        if query.usable_only:
            records = [r for r in records if r.status == CheckStatus.USABLE]
        user_sem = parse_semantic(query.semantic_spec) if query.semantic_spec else None
        sem_hits = semantic_search(user_sem, [(r.id, r.semantic_spec) for r in records], mode=query.semantic_mode)
        names = {r.id: r.name for r in records}
        if query.stat_spec is None:
            return SearchResponse(single=[SingleResult(id=i, name=names[i], score=s / 100.0) for i, s in sem_hits])
        user_spec = stat_spec_from_dict(query.stat_spec.model_dump(exclude_none=True), "stat_spec")
        unfiltered = user_sem is None and not query.usable_only
        allowed = None if unfiltered else {i for i, _ in sem_hits}
        hetero = self.organizer.hetero
        res = None
        if hetero is not None and query.hetero is not False:
            # the user's features differ from the models': rank in the engine's unified space
            res = hetero.search(user_sem, user_spec, allowed, query.max_search_num, query.search_method)
        in_hetero = res is not None
        if res is None:
            res = stat_search(self.organizer.index(), user_spec, allowed, query.max_search_num, query.search_method)
        single = [SingleResult(id=s.id, name=names.get(s.id, ""), score=s.score, distance=s.distance) for s in res.single]
        mix = None
        if res.mixture is not None:
            m = res.mixture
            mix = MixtureResult(ids=m.ids, weights=m.weights, score=m.score, distance=m.distance)
        return SearchResponse(single=single, mixture=mix, hetero=in_hetero)
