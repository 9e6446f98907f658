"""Load a checked package's model in this process (for reuse and prediction)."""

from __future__ import annotations

import importlib.util
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from .package import read_package

_lock = threading.Lock()


def load_model(package_dir: Path) -> Any:
    """Import the package's model module and instantiate its class.

    Only for packages the statistical checker accepted: the code runs in this process.  Each load
    gets a unique module name so two packages that both use ``__init__.py`` do not clash.
    """
    root, info = read_package(package_dir)
    with _lock:
        try:
            import learnware.model  # noqa: F401
        except ImportError:
            from .checkers.sandbox_worker import _install_learnware_shim

            _install_learnware_shim()
        name = f"_market_pkg_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, root / info.model.module_path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {info.model.module_path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return getattr(module, info.model.class_name)(**info.model.kwargs)
