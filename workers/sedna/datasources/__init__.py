"""Dataset parsers with Sedna's names: ``TxtDataParse``, ``CSVDataParse``, ``JSONDataParse``.

Each parser fills ``x`` (samples) and ``y`` (labels, empty for test data) from one or more
files. A malformed line never aborts a parse: it is skipped and recorded in ``bad_lines`` as
``(file, line_number, reason)`` so a worker can report how much of its data was unusable.

Relative sample paths in index files are resolved against the directory of the original
dataset (``ORIGINAL_DATASET_URL`` or the ``original_dataset_url`` argument): the LC writes each
round's index elsewhere, but the paths in it stay relative to the dataset they came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from sedna.common.log import get_logger

__all__ = ["BaseDataSource", "BadLine", "TxtDataParse", "CSVDataParse", "JSONDataParse"]

LOG = get_logger("datasources")


class BadLine(NamedTuple):
    """One skipped input line."""

    file: str
    line: int
    reason: str


class BaseDataSource:
    """Samples ``x`` and labels ``y`` of one data split.

    ``data_type`` is ``"train"``, ``"eval"`` or ``"test"``; test data carries no labels.
    ``func`` is an optional per-record transform applied before splitting into x/y: a
    callable, or the name of a class registered as ``ClassType.CALLBACK``, which is
    instantiated once (Sedna's convention; an unknown name raises with the known ones).
    """

    def __init__(self, data_type: str = "train", func: Callable[..., Any] | str | None = None) -> None:
        self.data_type = data_type
        self.process_func = _process_func(func)
        self.x: Any = None
        self.y: Any = None
        self.meta_attr: Any = None
        self.bad_lines: list[BadLine] = []

    @property
    def is_test_data(self) -> bool:
        """Test data has samples only."""
        return self.data_type == "test"

    def num_examples(self) -> int:
        """Number of parsed samples (0 before :meth:`parse`)."""
        return 0 if self.x is None else len(self.x)

    def __len__(self) -> int:
        return self.num_examples()

    def parse(self, *args: Any, **kwargs: Any) -> None:
        """Read the given files into ``x``/``y``."""
        raise NotImplementedError

    def _bad(self, file: str, line: int, reason: str) -> None:
        self.bad_lines.append(BadLine(file, line, reason))


def _process_func(func: Callable[..., Any] | str | None) -> Callable[..., Any] | None:
    if func is None or func == "":
        return None
    if isinstance(func, str):
        from sedna.common.class_factory import ClassFactory, ClassType

        func = ClassFactory.get_cls(ClassType.CALLBACK, func)()
    if not callable(func):
        raise TypeError(f"BaseDataSource func must be callable or a registered callback name; got {type(func).__name__}")
    return func


def _original_base(original_dataset_url: str | None) -> str | None:
    url = original_dataset_url or os.environ.get("ORIGINAL_DATASET_URL")
    return os.path.dirname(url) if url else None


def _looks_like_path(token: str) -> bool:
    """Labels such as ``0`` or ``cat`` are not paths; ``a/b`` or ``mask.png`` are."""
    if "/" in token or os.sep in token:
        return True
    ext = os.path.splitext(token)[1][1:]
    return bool(ext) and ext.isalnum() and not ext.isdigit()


def _resolve(token: Any, base: str | None) -> Any:
    """``token`` joined to the original dataset directory when it is a relative path; values
    that are not paths (``792``, ``cat``) stay as they are, samples and labels alike."""
    if base is None or not isinstance(token, str) or not token:
        return token
    if "://" in token or os.path.isabs(token) or not _looks_like_path(token):
        return token
    return os.path.join(base, token)


class TxtDataParse(BaseDataSource):
    """Whitespace-separated index files: ``x`` is the first token, ``y`` the second.

    ``parse(*files, use_raw=False, original_dataset_url=None)``:

    - ``use_raw``: keep every line's full token list (or ``func``'s result) as the sample.
    - ``func``: applied to each stripped line instead of the whitespace split; it may return
      a sequence (first item x, second y) or any object (kept whole, with ``use_raw``).
    - Blank lines and ``#`` comments are skipped silently. A training/eval line without a
      label, or one ``func`` raises on, is a bad line.
    - ``x`` and ``y``, when they look like relative paths (``a/b``, ``mask.png``; not
      ``792``), are joined to the original dataset directory.
    """

    def parse(self, *args: Any, **kwargs: Any) -> None:
        use_raw = bool(kwargs.get("use_raw", False))
        base = _original_base(kwargs.get("original_dataset_url"))
        x_data: list[Any] = []
        y_data: list[Any] = []
        self.bad_lines = []
        for file in args:
            if not file:
                continue
            file = str(file)
            if not os.path.isfile(file):
                self._bad(file, 0, "file not found")
                continue
            with open(file, encoding="utf-8", errors="replace") as fin:
                for lineno, raw in enumerate(fin, start=1):
                    line = raw.strip()
                    if not line or line.startswith("#"):
                        continue
                    if "\ufffd" in line:
                        self._bad(file, lineno, "not valid UTF-8")
                        continue
                    try:
                        record = self.process_func(line) if self.process_func else line.split()
                    except Exception as exc:  # a user transform failing on one line skips that line
                        self._bad(file, lineno, f"func raised {type(exc).__name__}: {exc}")
                        continue
                    if record is None or (isinstance(record, Sequence) and len(record) == 0):
                        self._bad(file, lineno, "func returned nothing")
                        continue
                    if use_raw:
                        x_data.append(record)
                        continue
                    if not isinstance(record, Sequence) or isinstance(record, str):
                        record = [record]
                    if not self.is_test_data and len(record) < 2:
                        self._bad(file, lineno, "missing label (expected '<x> <y>')")
                        continue
                    x_data.append(_resolve(record[0], base))
                    if not self.is_test_data:
                        y_data.append(_resolve(record[1], base))
        if self.bad_lines:
            LOG.warning("skipped %d bad line(s) in %s", len(self.bad_lines), ", ".join(map(str, args)))
        self.x = _as_array(x_data)
        self.y = _as_array(y_data)


def _as_array(items: list[Any]) -> np.ndarray:
    """A 1-D object-safe array: ragged records must not turn into a 2-D array or fail."""
    try:
        arr = np.asarray(items)
        if arr.ndim == 1 or (arr.ndim > 1 and arr.dtype != object):
            return arr
    except ValueError:
        pass
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


class CSVDataParse(BaseDataSource):
    """CSV files via pandas; the ``label`` column (``y`` when there is no ``label``) becomes y.

    ``parse(*files_or_records, label="label", usecols=None, **read_csv_kwargs)``; a dict or
    list of dicts is accepted in place of a file. Rows with the wrong number of fields are
    recorded in ``bad_lines`` and dropped. ``func`` receives each file's DataFrame.
    """

    def parse(self, *args: Any, **kwargs: Any) -> None:
        import pandas as pd

        label = kwargs.pop("label", "label")
        usecols = kwargs.pop("usecols", None)
        if isinstance(usecols, str):
            usecols = [c for c in usecols.split(",") if c]
        if usecols and label and label not in usecols:
            usecols = [*usecols, label]
        if usecols:
            kwargs["usecols"] = usecols
        self.bad_lines = []
        frames: list[Any] = []
        labels: list[Any] = []
        for item in args:
            if isinstance(item, dict | list):
                frame = pd.DataFrame(item if isinstance(item, list) else [item])
                source = "<records>"
            else:
                source = str(item)
                if not os.path.isfile(source):
                    self._bad(source, 0, "file not found")
                    continue
                frame = self._read(source, kwargs)
                if frame is None:
                    continue
            if self.process_func:
                frame = self.process_func(frame)
            column = label if label in frame.columns else ("y" if "y" in frame.columns else None)
            if column is not None:
                labels.append(frame[column])
                frame = frame.drop(columns=[column])
            elif not self.is_test_data:
                self._bad(source, 0, f"no {label!r} column")
                continue
            frames.append(frame)
        if not frames:
            self.x, self.y = None, None
            return
        self.x = pd.concat(frames, ignore_index=True)
        self.y = pd.concat(labels, ignore_index=True) if labels else None

    def _read(self, source: str, kwargs: dict[str, Any]) -> Any:
        import pandas as pd

        bad: list[list[str]] = []
        # the python engine hands us each bad row; we count rows ourselves to know its line
        try:
            frame = pd.read_csv(source, engine="python", on_bad_lines=bad.append, **kwargs)
        except Exception as exc:  # empty or unreadable files are one bad "line" each
            self._bad(source, 0, f"unreadable CSV: {type(exc).__name__}: {exc}")
            return None
        if bad:
            self._locate_bad_rows(source, bad, kwargs)
        return frame

    def _locate_bad_rows(self, source: str, bad: list[list[str]], kwargs: dict[str, Any]) -> None:
        import csv

        sep = kwargs.get("sep", kwargs.get("delimiter", ","))
        with open(source, newline="", encoding="utf-8", errors="replace") as fin:
            rows = list(csv.reader(fin, delimiter=sep if isinstance(sep, str) and len(sep) == 1 else ","))
        width = len(rows[0]) if rows else 0
        found = 0
        for lineno, row in enumerate(rows, start=1):
            if lineno > 1 and row and len(row) != width:
                self._bad(source, lineno, f"expected {width} fields, saw {len(row)}")
                found += 1
        for _ in range(len(bad) - found):  # unlocatable (e.g. quoting) but still counted
            self._bad(source, 0, "malformed row")


class JSONDataParse(BaseDataSource):
    """JSON data: a list of records, JSON Lines, or a COCO-style ``{"images", "annotations"}``.

    Records: ``x`` is ``record[x_key]`` when given (else the record without its label) and
    ``y`` is ``record[label]`` (default ``"label"``, falling back to ``"y"``). COCO: ``x`` is
    each image's ``file_name`` resolved against the original dataset directory (or the JSON
    file's directory) and ``y`` the list of that image's annotations.
    """

    def parse(self, *args: Any, **kwargs: Any) -> None:
        label = kwargs.get("label", "label")
        x_key = kwargs.get("x_key")
        self.bad_lines = []
        x_data: list[Any] = []
        y_data: list[Any] = []
        for file in args:
            file = str(file)
            if not os.path.isfile(file):
                self._bad(file, 0, "file not found")
                continue
            records = self._load(file)
            if isinstance(records, dict) and "images" in records:
                base = _original_base(kwargs.get("original_dataset_url")) or os.path.dirname(file)
                self._parse_coco(records, base, x_data, y_data)
                continue
            for lineno, rec in records:
                if self.process_func:
                    try:
                        rec = self.process_func(rec)
                    except Exception as exc:  # skip the record, keep parsing
                        self._bad(file, lineno, f"func raised {type(exc).__name__}: {exc}")
                        continue
                if not isinstance(rec, dict):
                    if self.is_test_data:
                        x_data.append(rec)
                    else:
                        self._bad(file, lineno, f"expected an object, got {type(rec).__name__}")
                    continue
                key = label if label in rec else ("y" if "y" in rec else None)
                if key is None and not self.is_test_data:
                    self._bad(file, lineno, f"missing {label!r}")
                    continue
                if x_key is not None:
                    if x_key not in rec:
                        self._bad(file, lineno, f"missing {x_key!r}")
                        continue
                    x_data.append(rec[x_key])
                else:
                    x_data.append({k: v for k, v in rec.items() if k != key})
                if key is not None and not self.is_test_data:
                    y_data.append(rec[key])
        self.x = _as_array(x_data)
        self.y = _as_array(y_data)

    def _load(self, file: str) -> Any:
        with open(file, encoding="utf-8", errors="replace") as fin:
            text = fin.read()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and "images" in value:
            return value
        if isinstance(value, list):
            return list(enumerate(value, start=1))
        if isinstance(value, dict):
            return [(1, value)]
        records: list[tuple[int, Any]] = []
        for lineno, line in enumerate(text.splitlines(), start=1):  # JSON Lines
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                self._bad(file, lineno, f"invalid JSON: {exc.msg}")
        return records

    def _parse_coco(self, data: dict[str, Any], base: str, x_data: list[Any], y_data: list[Any]) -> None:
        by_image: dict[Any, list[Any]] = {}
        for ann in data.get("annotations", []) or []:
            if isinstance(ann, dict) and "image_id" in ann:
                by_image.setdefault(ann["image_id"], []).append(ann)
        for idx, img in enumerate(data.get("images", []) or [], start=1):
            if not isinstance(img, dict) or "file_name" not in img:
                self._bad("<coco>", idx, "image entry without file_name")
                continue
            x_data.append(_resolve(img["file_name"], base))
            if not self.is_test_data:
                y_data.append(by_image.get(img.get("id"), []))
