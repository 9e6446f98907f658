"""Knowledge-base backends found through the ``sedna.knowledge_bases`` entry point group.

Each test installs a throwaway distribution (a ``*.dist-info`` folder with ``entry_points.txt``)
on ``sys.path``: :mod:`importlib.metadata` discovers it exactly as it discovers an installed
package, so the lookup runs its production path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sedna.algorithms.knowledge_management import backends
from sedna.algorithms.knowledge_management.backends import (
    ENTRY_POINT_GROUP,
    OVERRIDE_ENV,
    BackendUnavailable,
    backend_available,
    load_backend,
    registered_backends,
)


def install(root: Path, dist: str, entries: dict[str, str], modules: dict[str, str] | None = None) -> None:
    """Write a distribution ``dist`` declaring ``entries`` in the group, and its modules, under ``root``."""
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    for name, text in (modules or {}).items():
        (root / f"{name}.py").write_text(text)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OVERRIDE_ENV, raising=False)
    monkeypatch.setattr(backends, "_LOADED", {})


BACKEND_MODULE = """
class Backend:
    made = 0

    def __init__(self):
        Backend.made += 1

    def hello(self):
        return "from the plugin"
"""


def test_a_registered_entry_point_is_loaded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "kb_probe_a", {"probe-a": "kb_probe_a_mod:Backend"}, {"kb_probe_a_mod": BACKEND_MODULE})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registered_backends()["probe-a"] == "kb_probe_a_mod:Backend"
    first = load_backend("probe-a")
    assert first.hello() == "from the plugin"
    assert load_backend("probe-a") is first and sys.modules["kb_probe_a_mod"].Backend.made == 1
    assert backend_available("probe-a")


def test_an_absent_backend_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "kb_probe_b", {"probe-b": "kb_probe_no_such_module:Backend"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BackendUnavailable, match="no 'probe-nowhere' knowledge base is installed"):
        load_backend("probe-nowhere")
    # declared by a distribution whose module is missing: unavailable too, with the import error
    with pytest.raises(BackendUnavailable, match="kb_probe_no_such_module"):
        load_backend("probe-b")
    assert not backend_available("probe-b") and not backend_available("probe-nowhere")


def test_the_environment_overrides_an_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "kb_probe_c", {"probe-c": "kb_probe_no_such_module:Backend"},
            {"kb_probe_c_mod": "class Other:\n    name = 'override'\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not backend_available("probe-c")
    monkeypatch.setenv(OVERRIDE_ENV, " probe-c = kb_probe_c_mod:Other , malformed, =x:y")
    assert registered_backends()["probe-c"] == "kb_probe_c_mod:Other"
    assert load_backend("probe-c").name == "override"
