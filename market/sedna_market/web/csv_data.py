"""Parse a user's CSV upload into a numeric matrix (pure: bytes in, array out).

The web page's "search by data" sends a CSV; the server turns it into an RKME table spec with
the market's own code.  Everything here is untrusted input, so each problem is a
:class:`CsvError` saying where (row, column) and what to change.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

#: cells read as a missing value (the RKME code fills them with the column mean)
_MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
_DELIMITERS = ",;\t"


class CsvError(ValueError):
    """The CSV cannot be used for a search; the message says where and what to change."""


def _number(cell: str) -> float | None:
    """``cell`` as a float, NaN for a missing value, None when it is not a number."""
    text = cell.strip()
    if text.lower() in _MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _delimiter(sample: str) -> str:
    """The delimiter of ``sample``: the one of ``,;<tab>`` splitting its first line most often."""
    first = sample.splitlines()[0] if sample else ""
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_csv(data: bytes, max_rows: int, max_cells: int) -> tuple[np.ndarray, list[str] | None]:
    """The rows of ``data`` as an ``(n, d)`` float array, and the header when the first row is one.

    A first row with a non-numeric cell is taken as a header; every later cell must be a number
    or empty/``NA``/``nan`` (a missing value).  Refuses (:class:`CsvError`) undecodable text,
    ragged rows, non-numeric cells, no data rows, more than ``max_rows`` rows or more than
    ``max_cells`` cells.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError(f"the CSV is not UTF-8 text (byte {exc.start} cannot be decoded): save it as UTF-8") from None
    if "\x00" in text:
        raise CsvError("the CSV contains NUL bytes: is it a binary file? Send comma-separated numbers")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text[:4096]))
    header: list[str] | None = None
    rows: list[list[float]] = []
    width = 0
    try:
        for line_no, raw in enumerate(reader, start=1):
            if not raw or all(not c.strip() for c in raw):
                continue  # blank lines carry no sample
            values = [_number(c) for c in raw]
            if header is None and not rows and any(v is None for v in values):
                header = [c.strip() for c in raw]
                width = len(raw)
                continue
            if not width:
                width = len(raw)
            if len(raw) != width:
                raise CsvError(f"row {line_no} has {len(raw)} cells but the first row has {width}: every row needs the same columns")
            bad = next((i for i, v in enumerate(values) if v is None), None)
            if bad is not None:
                raise CsvError(f"row {line_no}, column {bad + 1}: {raw[bad][:40]!r} is not a number "
                               "(only the first row may be a header; leave missing values empty)")
            rows.append(values)  # type: ignore[arg-type]  # no None left
            if len(rows) > max_rows:
                raise CsvError(f"the CSV has more than {max_rows} data rows: send a sample of at most {max_rows}")
            if len(rows) * width > max_cells:
                raise CsvError(f"the CSV has more than {max_cells} cells: send fewer rows or columns")
    except csv.Error as exc:
        raise CsvError(f"the CSV cannot be read near line {reader.line_num}: {exc}") from None
    if not rows:
        seen = f" (its only row, {header[:4]!r}, was read as a header)" if header else ""
        raise CsvError(f"the CSV has no data rows{seen}: send one row of numbers per sample")
    return np.asarray(rows, dtype=np.float64), header
