"""Fixtures of the LC tests: a secret, Sedna's report body, an ASGI client factory."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sedna_operator.lc import report_token

SECRET = "test-lc-secret"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sedna_body(**overrides: Any) -> dict[str, Any]:
    """The body Sedna's SDK (``report_task_info``) posts for an IL train worker."""
    body: dict[str, Any] = {
        "name": "helmet-train-abcde",
        "namespace": "default",
        "ownerName": "helmet-detection-demo",
        "ownerKind": "incrementallearningjob",
        "kind": "train",
        "status": "completed",
        "results": [
            {
                "format": "pb",
                "url": "/output/train/1/model.pb",
                "metrics": {"precision": [0.8, 0.7], "recall": [0.6, 0.5]},
            }
        ],
        "ownerInfo": {"round": 1},
    }
    body.update(overrides)
    return copy.deepcopy(body)


def token_for(body: dict[str, Any], secret: str = SECRET) -> str:
    return report_token(secret, body["namespace"], body["ownerKind"], body["ownerName"])


def auth_header(body: dict[str, Any], secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(body, secret)}"}
