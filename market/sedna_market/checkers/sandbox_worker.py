"""Child-process entry point that loads and probes an untrusted model.

Run as ``python -m sedna_market.checkers.sandbox_worker <request.json>``.  It applies its own
resource limits first, then imports the model module, instantiates the class, calls ``predict``
on the probe inputs and writes ``result.json`` (+ ``outputs.npy``) next to the request.  Nothing
is unpickled by the parent: outputs travel as a plain numeric ``.npy`` read without pickle.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
import types
from pathlib import Path
from typing import Any


def _limit_resources(memory_mb: int, cpu_s: int) -> None:
    try:
        import resource

        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    except (ImportError, ValueError, OSError):  # non-POSIX: the parent's timeout still applies
        pass


def _install_learnware_shim() -> None:
    """Let learnware-style ``__init__.py`` files import ``learnware.model.BaseModel``."""
    try:
        import learnware.model  # noqa: F401

        return
    except ImportError:
        pass
    from sedna_market.model import BaseModel

    pkg = types.ModuleType("learnware")
    pkg.__path__ = []
    mod = types.ModuleType("learnware.model")
    mod.BaseModel = BaseModel  # type: ignore[attr-defined]
    pkg.model = mod  # type: ignore[attr-defined]
    sys.modules["learnware"] = pkg
    sys.modules["learnware.model"] = mod


def _shape(value: Any) -> list[int] | None:
    if value is None:
        return None
    return [int(v) for v in value]


def main(request_path: str) -> int:
    req = json.loads(Path(request_path).read_text())
    out_dir = Path(request_path).parent
    result: dict[str, Any] = {"ok": False}
    _limit_resources(int(req["memory_mb"]), int(req["cpu_s"]))
    try:
        import numpy as np

        _install_learnware_shim()
        root = Path(req["package_dir"])
        sys.path.insert(0, str(root))
        spec = importlib.util.spec_from_file_location("_market_model", root / req["module_path"])
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {req['module_path']}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["_market_model"] = module
        spec.loader.exec_module(module)
        # pickled estimators defined in the module are looked up on __main__ when unpickled
        sys.modules["__main__"].__dict__.setdefault(req["class_name"], getattr(module, req["class_name"]))
        model = getattr(module, req["class_name"])(**req["kwargs"])
        result["input_shape"] = _shape(getattr(model, "input_shape", None))
        result["output_shape"] = _shape(getattr(model, "output_shape", None))
        X = np.load(out_dir / "inputs.npy", allow_pickle=False)
        out = model.predict(X)
        if hasattr(out, "detach"):  # torch tensors
            out = out.detach().cpu().numpy()
        arr = np.asarray(out)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"predict returned non-numeric data of dtype {arr.dtype}")
        np.save(out_dir / "outputs.npy", arr, allow_pickle=False)
        result["ok"] = True
    except ModuleNotFoundError as exc:
        result["missing_module"] = exc.name
        result["error"] = f"{type(exc).__name__}: {exc}"
    except BaseException as exc:  # noqa: BLE001 - any model failure becomes a report
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=5)[-2000:]
    (out_dir / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
