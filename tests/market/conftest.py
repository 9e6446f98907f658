"""Fixtures for the market tests: package builders and small markets."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sedna_market.spec.rkme import RKMETableSpec, generate_rkme_table_spec
from sedna_market.spec.semantic import SemanticSpec, generate_semantic_spec
from tests.support.postgres import PostgresServer, running_postgres

DIM = 4

# Model modules used to exercise every checker outcome.  They are written as learnware users
# write them: subclass learnware.model.BaseModel (the checker sandbox provides it).
MODEL_SOURCES: dict[str, str] = {
    "good": """
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self, n_classes=3):
        super().__init__(input_shape=(4,), output_shape=(n_classes,))
        self.w = np.arange(4 * n_classes, dtype=float).reshape(4, n_classes)
    def predict(self, X):
        return np.asarray(X) @ self.w
""",
    "crash": """
import os
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(4,), output_shape=(3,))
    def predict(self, X):
        os._exit(139)  # as if the process segfaulted
""",
    "raise": """
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(4,), output_shape=(3,))
    def predict(self, X):
        raise RuntimeError("boom")
""",
    "hang": """
import time
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(4,), output_shape=(3,))
    def predict(self, X):
        while True:
            time.sleep(1)
""",
    "garbage": """
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(4,), output_shape=(3,))
    def predict(self, X):
        return ["not", "numbers"] * 5
""",
    "wrong_rows": """
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(4,), output_shape=(3,))
    def predict(self, X):
        return np.zeros((3, 3))
""",
    "wrong_width": """
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(4,), output_shape=(5,))
    def predict(self, X):
        return np.zeros((len(X), 5))
""",
    "memory_hog": """
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=(4,), output_shape=(3,))
    def predict(self, X):
        big = np.ones((64, 1024, 1024, 8))  # 4 GiB
        return big[:len(X), 0, 0, :3]
""",
    "missing_dep": """
import surely_not_installed_pkg_xyz
from learnware.model import BaseModel

class Model(BaseModel):
    pass
""",
}


def semantic_for(dim: int = DIM, n_classes: int = 3, name: str = "demo model", task: str = "Classification",
                 description: str = "a demo classifier", scenario: str = "Business") -> SemanticSpec:
    return generate_semantic_spec(
        name=name,
        description=description,
        data_type="Table",
        task_type=task,
        library_type="Scikit-learn",
        scenarios=[scenario],
        license="MIT",
        input_description={"Dimension": dim, "Description": {"0": "feature zero"}},
        output_description={"Dimension": n_classes, "Description": {}},
    )


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            # fixed timestamps: the same content gives the same bytes (and the same sha256)
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), content)
    return buf.getvalue()


def package_bytes(kind: str = "good", spec: RKMETableSpec | None = None, semantic: SemanticSpec | None = None,
                  seed: int = 0, yaml_cfg: dict[str, Any] | None = None, include_spec: bool = True) -> bytes:
    if spec is None:
        rng = np.random.default_rng(seed)
        spec = generate_rkme_table_spec(rng.normal(size=(60, DIM)), reduced_set_size=8)
    files: dict[str, str | bytes] = {
        "learnware.yaml": yaml.safe_dump(yaml_cfg or {"model": {"class_name": "Model", "kwargs": {}}}),
        "__init__.py": MODEL_SOURCES[kind],
        "requirements.txt": "numpy\n",
    }
    if include_spec:
        files["stat_spec.json"] = spec.to_json()
    if semantic is not None:
        files["semantic_specification.json"] = json.dumps(semantic.to_dict())
    return make_zip(files)


@pytest.fixture(scope="session")
def make_package() -> Callable[..., bytes]:
    return package_bytes


@pytest.fixture(scope="session")
def semantic() -> Callable[..., SemanticSpec]:
    return semantic_for


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server (Debian's) for the session; each test gets its own database."""
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The organizer suite runs on SQLite (the default) and on a real PostgreSQL server, through
    the plain ``postgresql://`` URL form the chart's ``kb.databaseUrl`` takes."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'market.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database().replace("postgresql+psycopg://", "postgresql://")
