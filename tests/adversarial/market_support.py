"""A market app with an explicit write token and zip/package builders, for the adversarial tests."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from sedna_market.service import create_app
from sedna_market.settings import MarketSettings
from sedna_market.spec.rkme import generate_rkme_table_spec
from sedna_market.spec.semantic import generate_semantic_spec

TOKEN = "adversarial-market-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DIM = 4

MODEL = """
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(4,), output_shape=(3,))
    def predict(self, X):
        return np.zeros((len(X), 3))
"""


def market_app(tmp: Path, **overrides: Any) -> Any:
    """The market's ASGI app over ``tmp``, writes guarded by :data:`TOKEN`, no sandboxed check
    (the checker has its own tests; here only the request handling is under test)."""
    values: dict[str, Any] = {
        "db_url": f"sqlite:///{tmp / 'kb.db'}",
        "storage_dir": tmp / "store",
        "api_token": TOKEN,
        "run_stat_check": False,
        "check_timeout_s": 10,
    }
    values.update(overrides)
    return create_app(MarketSettings(**values))


def semantic_dict() -> dict[str, Any]:
    return generate_semantic_spec(
        name="adversarial demo",
        description="a demo classifier",
        data_type="Table",
        task_type="Classification",
        library_type="Scikit-learn",
        scenarios=["Business"],
        license="MIT",
        input_description={"Dimension": DIM, "Description": {"0": "feature zero"}},
        output_description={"Dimension": 3, "Description": {}},
    ).to_dict()


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), content)
    return buf.getvalue()


def package_files(seed: int = 0) -> dict[str, str | bytes]:
    spec = generate_rkme_table_spec(np.random.default_rng(seed).normal(size=(40, DIM)), reduced_set_size=6)
    return {
        "learnware.yaml": yaml.safe_dump({"model": {"class_name": "Model", "kwargs": {}}}),
        "__init__.py": MODEL,
        "stat_spec.json": spec.to_json(),
        "semantic_specification.json": json.dumps(semantic_dict()),
    }


def request(app: Any, method: str, url: str, **kw: Any) -> httpx.Response:
    """One request through the ASGI app; an exception in the app is a 500, as a server answers."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://market") as c:
            return await c.request(method, url, **kw)

    return asyncio.run(go())


def submit(app: Any, files: dict[str, str | bytes], semantic: str | None = None) -> httpx.Response:
    data = {"semantic_spec": semantic} if semantic is not None else {}
    return request(
        app, "POST", "/api/v1/learnwares", files={"file": ("lw.zip", make_zip(files), "application/zip")}, data=data, headers=AUTH
    )
