"""docs/limits.md states every input limit once; its defaults must be the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "limits.md"


def _rows() -> dict[str, str]:
    """{limit: default cell} of the table."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("Limit", "---"):
            rows[cells[0]] = cells[2]
    return rows


def _first_number(cell: str) -> int:
    match = re.match(r"\d+", cell)
    assert match, cell
    return int(match.group(0))


def _defaults() -> dict[str, int]:
    from sedna.service.server.aggregation import (
        DEFAULT_MAX_NUM_SAMPLES,
        DEFAULT_SUBSCRIBE_MAX_SIZE,
        DEFAULT_WS_SIZE,
    )
    from sedna.service.server.inference import DEFAULT_MAX_BUFFER_SIZE
    from sedna_market.package import MAX_FILES, MAX_UNCOMPRESSED_BYTES
    from sedna_market.package import MAX_YAML_NODES as LEARNWARE_YAML_NODES
    from sedna_market.schemas import MAX_SPEC_POINTS
    from sedna_market.settings import DEFAULT_MAX_STORAGE_BYTES, MarketSettings
    from sedna_operator.api.yamlio import MAX_YAML_NODES
    from sedna_operator.lc.app import MAX_JSON_DEPTH
    from sedna_operator.lc.models import MAX_SEQUENCE
    from sedna_operator.lc.settings import DEFAULT_MAX_BODY_BYTES
    from sedna_operator.runtime.local.session import DEFAULT_MAX_RESOURCES

    return {
        "expanded YAML nodes per document (aliases counted expanded)": MAX_YAML_NODES,
        "objects one `sedna run` applies (resources, Secrets, ConfigMaps: documents of all its files together)": DEFAULT_MAX_RESOURCES,
        "LC report body": DEFAULT_MAX_BODY_BYTES,
        "LC report JSON nesting": MAX_JSON_DEPTH,
        "LC report sequence": MAX_SEQUENCE,
        "market upload": MarketSettings.model_fields["max_upload_bytes"].default,
        "unpacked size of one package": MAX_UNCOMPRESSED_BYTES,
        "files in one package": MAX_FILES,
        "expanded YAML nodes of a package's `learnware.yaml`": LEARNWARE_YAML_NODES,
        "the whole market's storage (package zips + unpacked files + knowledge-base files)": DEFAULT_MAX_STORAGE_BYTES,
        "points of a statistical spec in a search": MAX_SPEC_POINTS,
        "`num_samples` of one FL update": DEFAULT_MAX_NUM_SAMPLES,
        "websocket frame": DEFAULT_WS_SIZE,
        "websocket frame before authentication (jobs with an aggregation key)": DEFAULT_SUBSCRIBE_MAX_SIZE,
        "big-model request body": DEFAULT_MAX_BUFFER_SIZE,
    }


@pytest.mark.parametrize("limit", sorted(_defaults()))
def test_the_documented_default_is_the_code_default(limit: str) -> None:
    rows = _rows()
    assert limit in rows, f"{limit!r} is missing from docs/limits.md"
    assert _first_number(rows[limit]) == _defaults()[limit]


def test_the_sandbox_row_matches_the_market_settings() -> None:
    from sedna_market.settings import MarketSettings

    cell = _rows()["checker sandbox wall time / memory / CPU"]
    fields = MarketSettings.model_fields
    assert cell.startswith(f"{fields['check_timeout_s'].default:g} s / {fields['check_memory_mb'].default} MiB")
