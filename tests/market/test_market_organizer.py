"""Organizer persistence, content addressing, unique ids and concurrent submissions."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sedna_market.market import Market, SubmissionError
from sedna_market.organizer import Organizer
from sedna_market.search.stat_search import stat_search
from sedna_market.status import CheckStatus


def test_submit_persists_across_restart(tmp_path, db_url, make_package, semantic) -> None:
    m = Market(Organizer(db_url, tmp_path / "store"))
    rec = m.submit(make_package("good"), semantic(), wait=True)
    assert rec.status == CheckStatus.USABLE and rec.check_state == "done"
    bad = m.submit(make_package("raise", seed=1), semantic(), wait=True)
    assert bad.status == CheckStatus.INVALID and bad.blob_sha256 is None
    m.close()
    m2 = Market(Organizer(db_url, tmp_path / "store"), run_stat_check=False)
    again = m2.organizer.get(rec.id)
    assert again is not None and again.status == CheckStatus.USABLE
    assert np.allclose(again.stat_spec.z, rec.stat_spec.z)
    assert m2.organizer.package_bytes(rec.id) == make_package("good")
    assert m2.organizer.get(bad.id).reason.startswith("statistical check")  # type: ignore[union-attr]
    assert [r.id for r in m2.organizer.list(searchable_only=True)] == [rec.id]


def test_rejected_submission_stores_nothing(tmp_path, db_url, make_package, semantic) -> None:
    m = Market(Organizer(db_url, tmp_path / "store"), run_stat_check=False)
    with pytest.raises(SubmissionError, match="not a valid zip"):
        m.submit(b"garbage", semantic())
    with pytest.raises(SubmissionError, match="stat_spec.json"):
        m.submit(make_package("good", include_spec=False), semantic())
    with pytest.raises(SubmissionError, match="Input.Dimension"):
        m.submit(make_package("good"), semantic(dim=9))
    with pytest.raises(SubmissionError, match="no semantic specification"):
        m.submit(make_package("good"), None)
    assert len(m.organizer) == 0
    assert not any((tmp_path / "store" / "blobs").rglob("*.*")) and not list((tmp_path / "store" / "blobs").iterdir())


def test_content_addressed_and_ids_unique_after_delete(tmp_path, db_url, make_package, semantic) -> None:
    org = Organizer(db_url, tmp_path / "store")
    m = Market(org, run_stat_check=False)
    pkg = make_package("good")
    a, b = m.submit(pkg, semantic()), m.submit(pkg, semantic())
    assert a.id != b.id and a.blob_sha256 == b.blob_sha256
    assert org.delete(a.id)
    assert org.store.exists(b.blob_sha256)  # still referenced by b
    org2 = Organizer(db_url, tmp_path / "store")
    c = Market(org2, run_stat_check=False).submit(pkg, semantic())
    assert c.id not in (a.id, b.id)
    org2.delete(b.id)
    org2.delete(c.id)
    assert not org2.store.exists(b.blob_sha256)


def test_update_and_reload(tmp_path, db_url, make_package, semantic) -> None:
    org = Organizer(db_url, tmp_path / "store")
    rec = Market(org, run_stat_check=False).submit(make_package("good"), semantic())
    org.update(rec.id, semantic_spec=semantic(name="renamed"), status=CheckStatus.USABLE)
    assert Organizer(db_url, tmp_path / "store").get(rec.id).name == "renamed"  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        org.update("nope", status=CheckStatus.USABLE)


def test_concurrent_submissions_and_searches(tmp_path, db_url, make_package, semantic) -> None:
    org = Organizer(db_url, tmp_path / "store")
    m = Market(org, run_stat_check=False)
    packages = [make_package("good", seed=i) for i in range(24)]
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    user = org  # searches run while submissions land

    def submit(chunk: list[bytes]) -> None:
        try:
            for p in chunk:
                rid = m.submit(p, semantic()).id
                with lock:
                    ids.append(rid)
                recs = user.list(searchable_only=True)
                if recs:
                    res = stat_search(user.index(), recs[0].stat_spec, max_search_num=2)
                    assert res.single
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(packages[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(ids)) == 24
    assert len(Organizer(db_url, tmp_path / "store")) == 24
    assert len(org.index()) == 24


def test_a_check_left_pending_by_a_crash_runs_at_the_next_start(tmp_path, db_url, make_package, semantic) -> None:
    """Issue 12 item 10: a market stopped mid-check (crash, restart) left the model pending for
    good; the next market checks it again."""
    from sedna_market.organizer import PENDING

    org = Organizer(db_url, tmp_path / "store")
    quiet = Market(org, run_stat_check=False)
    info, sem = quiet.validate(make_package("good"), semantic())
    mid = org.add(make_package("good"), sem, info.stat_spec, CheckStatus.NONUSABLE, PENDING, "check pending")
    quiet.close()  # the state a crash mid-check leaves behind
    m = Market(Organizer(db_url, tmp_path / "store"))
    rec = m.wait_checked(mid, timeout=60)
    assert rec is not None and rec.check_state == "done" and rec.status == CheckStatus.USABLE
    assert m.resume_pending_checks() == []  # nothing left pending
    m.close()
