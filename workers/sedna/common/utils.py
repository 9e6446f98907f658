"""Small helpers shared by the SDK modules."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = [
    "get_file_format",
    "str_to_bool",
    "to_float",
    "to_int",
    "get_host_ip",
    "model_layer_flatten",
    "model_layer_reshape",
    "filter_kwargs",
    "parse_param",
    "singleton",
]

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off", ""}


def get_file_format(url: str) -> str:
    """Lower-case extension without the dot (``/m/model.PTH`` -> ``pth``; ``a.tar.gz`` -> ``gz``)."""
    return os.path.splitext(str(url).rstrip("/"))[1].lstrip(".").lower()


def str_to_bool(value: Any) -> bool:
    """Parse the boolean spellings env vars use; raises ``ValueError`` on anything else."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def to_float(value: Any, name: str) -> float:
    """Cast an algorithm parameter (often a string from ``*_PARAMETERS``) to float."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an int past 1e308
        raise ValueError(f"parameter {name!r} must be a number, got {_short(value)}") from exc


def to_int(value: Any, name: str) -> int:
    """Cast an algorithm parameter to int (accepts ``"3"`` and ``"3.0"``)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"parameter {name!r} must be an integer, got {_short(value)}") from exc
    if not number.is_integer():
        raise ValueError(f"parameter {name!r} must be an integer, got {_short(value)}")
    return int(number)


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` of a bad value for a message, cut short (a 400-digit integer is one line)."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 256 else f"an integer of {len(str(value))} digits"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def get_host_ip() -> str:
    """The address of the interface that routes outward (no packet is sent); 127.0.0.1 offline."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect(("10.255.255.255", 1))
        return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        sock.close()


def filter_kwargs(func: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``func`` accepts (all of them if it takes ``**kwargs``).

    Sedna passes every worker parameter to every estimator method; user methods rarely accept
    them all, so each call receives only what its signature names.
    """
    import inspect

    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return dict(kwargs)
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(kwargs)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in kwargs.items() if k in names}


def parse_param(value: Any, where: str = "param") -> dict[str, Any]:
    """An algorithm's parameters in any spelling a Sedna release accepted, as a dict.

    ``None``/``""`` → ``{}``; a dict as is; a JSON string holding an object (Sedna 0.3–0.5
    ``*_param`` strings, which Sedna itself only parses on Python ≤ 3.8); a JSON list (or a
    Python list) of ``{"key", "value"}`` entries or ``[key, value]`` pairs (the
    ``HEM_PARAMETERS`` form). Anything else raises ``ValueError`` naming ``where``: Sedna turns
    bad JSON into ``{}`` and the algorithm silently runs with its defaults.
    """
    import json

    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} is not valid JSON ({exc.msg} at {exc.pos}): {value[:80]!r}") from exc
        except RecursionError:  # json recurses per nesting level: '[' * 100000 exhausts the stack
            raise ValueError(f"{where} is nested too deeply to be parameters: {value[:80]!r}") from None
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list | tuple):
        out: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict) and "key" in item:
                out[str(item["key"])] = item.get("value", "")
            elif isinstance(item, list | tuple) and len(item) == 2:
                out[str(item[0])] = item[1]
            else:
                raise ValueError(f"{where} entries must be {{\"key\": ..., \"value\": ...}} or [key, value]; got {item!r}")
        return out
    raise ValueError(f"{where} must be a mapping, a JSON string or a key/value list; got {type(value).__name__}")


def singleton(cls: type[T]) -> Callable[..., T]:
    """Class decorator: every call returns the first instance."""
    instances: dict[type[T], T] = {}

    def get(*args: Any, **kwargs: Any) -> T:
        if cls not in instances:
            instances[cls] = cls(*args, **kwargs)
        return instances[cls]

    return get


def model_layer_flatten(weights: Iterable[Any]) -> list[float]:
    """Sedna 0.3's helper: every layer's weights, flattened into one list of floats."""
    import numpy as np

    arrays = [np.asarray(w, dtype=np.float64).ravel() for w in weights]
    return np.concatenate(arrays).tolist() if arrays else []


def _shape_of(spec: Any) -> tuple[int, ...]:
    """A shape given as a tuple/list of ints, or the shape of an array-like."""
    import numpy as np

    if isinstance(spec, tuple | list) and all(isinstance(d, int) for d in spec):
        return tuple(spec)
    return tuple(np.shape(spec))


def model_layer_reshape(flattened: Iterable[Any], shapes: Iterable[Any]) -> list[Any]:
    """The inverse of :func:`model_layer_flatten`: ``shapes`` lists each layer's shape (or
    an array of that shape). Raises ``ValueError`` when the sizes do not add up."""
    import numpy as np

    flat = np.asarray(list(flattened), dtype=np.float64)
    out: list[Any] = []
    offset = 0
    for shape in shapes:
        dims = _shape_of(shape)
        size = int(np.prod(dims)) if dims else 1
        if offset + size > flat.size:
            raise ValueError(f"model_layer_reshape: {flat.size} values cannot fill the shapes given")
        out.append(flat[offset : offset + size].reshape(dims))
        offset += size
    if offset != flat.size:
        raise ValueError(f"model_layer_reshape: {flat.size - offset} values left over after the shapes given")
    return out
