"""Every image, run as a container: the control-plane image's CLI, the worker SDK, the storage
initializer, and the PyTorch worker (built here too, though no example runs it)."""

from __future__ import annotations

import os
import subprocess

from e2e.node.images import chart_version
from tests.support.node import E2E

VERSION = chart_version()


def docker_run(image: str, *args: str, entrypoint: str | None = None, timeout: float = 300) -> str:
    argv = ["docker", "run", "--rm", "--network", "none"]
    if entrypoint is not None:
        argv += ["--entrypoint", entrypoint]
    proc = subprocess.run([*argv, image, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{image} {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_control_plane_image_runs_the_cli(e2e: E2E) -> None:
    image = f"sedna-py/sedna:{VERSION}"
    out = docker_run(image, "--help")
    for command in ("operator", "lc", "kb", "run", "validate"):
        assert command in out
    assert "--log-level" in docker_run(image, "kb", "serve", "--help")
    assert docker_run(image, "-c", "import os; print(os.getuid())", entrypoint="python3").strip() == "10001"


def test_worker_image_runs_the_sdk(e2e: E2E) -> None:
    script = (
        "from sedna.core.joint_inference import JointInference\n"
        "from sedna.core.federated_learning import FederatedLearning\n"
        "from sedna.core.incremental_learning import IncrementalLearning\n"
        "from sedna.core.lifelong_learning import LifelongLearning\n"
        "import sklearn, boto3, os\n"
        "print('sdk', os.getuid(), os.getcwd())\n"
    )
    out = docker_run(f"sedna-py/worker:{VERSION}", "python3", "-c", script)
    assert "sdk 10001 /home/work" in out


def test_storage_initializer_image(e2e: E2E) -> None:
    out = docker_run(f"sedna-py/storage-initializer:{VERSION}", "--writable", "/tmp/out/train/1")
    assert "/tmp/out/train/1 is writable" in out
    # As root (as the operator runs it for output host directories) it opens the directory up.
    proc = subprocess.run(
        ["docker", "run", "--rm", "--user", "0", "--entrypoint", "sh", f"sedna-py/storage-initializer:{VERSION}", "-c",
         "python -m sedna.storage_initializer --writable /srv/o && stat -c %a /srv/o"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip().endswith("1777"), proc.stdout + proc.stderr


def test_torch_worker_image_builds_and_runs(e2e: E2E) -> None:
    from e2e.node import images

    # PyTorch from PyPI (its CUDA wheels: several GB), from the wheelhouse as every image here;
    # on kind (SEDNA_E2E_BASE set) from the public base and the package index.
    built = images.build_product_images(torch=True, base=os.environ.get("SEDNA_E2E_BASE") or None)
    tag = f"sedna-py/worker-torch:{VERSION}"
    assert tag in built
    script = (
        "import torch\n"
        "from sedna.backend.torch import TorchEstimator\n"
        "x = torch.ones(2, 3)\n"
        "print('torch', torch.__version__, float(x.sum()))\n"
    )
    assert "6.0" in docker_run(tag, "python3", "-c", script)
