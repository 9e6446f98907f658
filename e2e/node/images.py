"""Images for the real-node cluster, built here with Docker and loaded into the nodes'
containerd (nothing is pulled: no registry is reachable from this machine).

- **Base**: Debian 12 made with ``debootstrap`` (python3 3.11, venv, CA certificates), imported
  as ``sedna-local/python:3.11-bookworm`` and passed to every Dockerfile as ``BASE_IMAGE``
  (users keep the default ``python:3.11-slim``). Cached as a tar under ~/.cache/sedna/images.
- **Wheelhouse**: every Python dependency downloaded once on the host (whose pip reaches the
  package index) into ~/.cache/sedna/wheels/<key>; builds run with ``--network host`` and
  ``PIP_NO_INDEX=1 PIP_FIND_LINKS=http://127.0.0.1:<port>/`` served from it, because pip inside
  a build cannot verify this network's TLS proxy.
- **Infra**: the pause sandbox (Kubernetes' own pause.c, static) and CoreDNS, FROM scratch.
- **Product**: ``Dockerfile.operator`` and ``images/*.Dockerfile`` with the chart's tags, and one
  image per example tagged as its manifests name them (``images/example.Dockerfile``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .layout import COREDNS_IMAGE, K8S_VERSION, PAUSE_IMAGE, bin_dir, cache_dir

__all__ = [
    "BASE_IMAGE",
    "ImageBuild",
    "ensure_docker",
    "base_image",
    "wheelhouse",
    "build_infra_images",
    "product_builds",
    "build_product_images",
    "example_images",
    "chart_version",
    "save",
]

log = logging.getLogger("sedna.e2e.images")

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "sedna-local/python:3.11-bookworm"
# Set on every image built here, so that the stale ones (superseded by a rebuild) are found
# and pruned without touching anyone else's images.
BUILD_LABEL = "io.sedna-py.build"
# The requirements an image's dependency layers were installed from (``requirements_key``).
DEPS_LABEL = "io.sedna-py.deps"
DEBIAN_MIRROR = os.environ.get("SEDNA_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def _images_cache() -> Path:
    path = cache_dir() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _say(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], log_file: Path | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    if log_file is None:
        proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
        output = proc.stdout + proc.stderr
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w") as out:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, text=True, **kwargs)
        output = log_file.read_text(errors="replace")
    if proc.returncode != 0:
        where = f" (log: {log_file})" if log_file else ""
        raise RuntimeError(f"{' '.join(argv[:4])} ... failed with {proc.returncode}{where}:\n{output[-4000:]}")
    return proc


# ---------------------------------------------------------------------------- docker
def ensure_docker(timeout: float = 60) -> None:
    """Start ``dockerd`` if no engine answers (Debian's docker.io; nothing else starts it here)."""
    if shutil.which("docker") is None:
        raise RuntimeError("docker not found: apt-get install docker.io")
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return
    if shutil.which("dockerd") is None:
        raise RuntimeError("no Docker engine answers and dockerd is not installed: apt-get install docker.io")
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    _say("starting dockerd")
    with (logs / "dockerd.log").open("ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"dockerd did not answer within {timeout:.0f}s:\n{(logs / 'dockerd.log').read_text()[-3000:]}")


def _inspect(tag: str, template: str) -> str | None:
    """``docker image inspect --format template`` of ``tag``; None when there is no such image."""
    proc = subprocess.run(["docker", "image", "inspect", "--format", template, tag], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _image_id(tag: str) -> str | None:
    return _inspect(tag, "{{.Id}}")


# ---------------------------------------------------------------------------- base
_TRIM = ["var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info"]


def base_image() -> str:
    """``BASE_IMAGE`` in Docker: loaded from the cache, else made with debootstrap (~1 min)."""
    ensure_docker()
    if _image_id(BASE_IMAGE):
        return BASE_IMAGE
    cached = _images_cache() / "base-bookworm-python3.11.tar"
    if cached.exists():
        _run(["docker", "load", "-i", str(cached)])
        return BASE_IMAGE
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap not found: apt-get install debootstrap")
    start = time.monotonic()
    _say(f"debootstrap Debian 12 with python3 from {DEBIAN_MIRROR} (about a minute)")
    with tempfile.TemporaryDirectory(prefix="sedna-base-", dir=cache_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        _run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
             "bookworm", str(root), DEBIAN_MIRROR],
            log_file=cache_dir() / "logs" / "debootstrap.log",
        )  # fmt: skip
        for rel in _TRIM:
            target = root / rel
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        _run(
            ["docker", "import", "--change", 'CMD ["python3"]', "--change", "ENV LANG=C.UTF-8", "-", BASE_IMAGE],
            stdin=tar.stdout,
        )
        tar.wait()
    _run(["docker", "save", "-o", str(cached), BASE_IMAGE])
    _say(f"base image {BASE_IMAGE} made in {time.monotonic() - start:.0f}s")
    return BASE_IMAGE


# ---------------------------------------------------------------------------- wheelhouse
def _requirements(extras: tuple[str, ...]) -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    reqs = list(project["project"]["dependencies"])
    for extra in extras:
        reqs += project["project"]["optional-dependencies"][extra]
    reqs += project["build-system"]["requires"]
    return sorted(set(reqs))


def requirements_key(extras: tuple[str, ...]) -> str:
    """A short digest of the requirements (and Python version) for ``extras``: names the
    wheelhouse and labels the images built from it."""
    reqs = _requirements(extras)
    return hashlib.sha256(json.dumps([sys.version_info[:2], reqs]).encode()).hexdigest()[:12]


# A wheelhouse nobody used for this long goes when a new one is made (each holding torch is 3 GB).
WHEELHOUSE_MAX_IDLE_S = 3 * 86400


def wheelhouse(extras: tuple[str, ...] = ("operator", "market", "worker")) -> Path:
    """A directory of wheels for the project's dependencies (with ``extras``) and its build
    backend, downloaded once per set of requirements.

    Wheels another wheelhouse holds too are hard links to one file, and wheelhouses unused for
    ``WHEELHOUSE_MAX_IDLE_S`` are removed when a new one is made: a machine that runs the tests
    daily would otherwise gather one torch download per requirements change."""
    reqs = _requirements(extras)
    root = cache_dir() / "wheels"
    target = root / f"py{sys.version_info[0]}{sys.version_info[1]}-{requirements_key(extras)}"
    marker = target / ".complete"
    if marker.exists():
        marker.touch()  # its mtime says when it was last used
        return target
    _prune_wheelhouses(root, keep=target)
    start = time.monotonic()
    _say(f"downloading {len(reqs)} requirements into {target}")
    target.mkdir(parents=True, exist_ok=True)
    # pip download leaves its unpack directories behind in TMPDIR (gigabytes with torch).
    with tempfile.TemporaryDirectory(prefix="sedna-pip-", dir=cache_dir()) as tmp:
        _run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "-d", str(target), *reqs],
            log_file=cache_dir() / "logs" / "wheelhouse.log",
            env={**os.environ, "TMPDIR": tmp},
        )
    saved = _link_shared_wheels(root, target)
    marker.write_text("\n".join(reqs))
    _say(f"wheelhouse ready in {time.monotonic() - start:.0f}s ({saved / 2**30:.1f} GiB shared with other wheelhouses)")
    return target


def _prune_wheelhouses(root: Path, keep: Path) -> None:
    if not root.is_dir():
        return
    now = time.time()
    for other in root.iterdir():
        marker = other / ".complete"
        if other == keep or not other.is_dir():
            continue
        used = marker.stat().st_mtime if marker.exists() else other.stat().st_mtime
        if now - used > WHEELHOUSE_MAX_IDLE_S:
            _say(f"removing wheelhouse {other.name} (unused for {(now - used) / 86400:.0f} days)")
            shutil.rmtree(other, ignore_errors=True)


def _link_shared_wheels(root: Path, target: Path) -> int:
    """Replace each wheel in ``target`` that another wheelhouse holds (same name and size: a
    wheel's name pins its version and build) by a hard link to that copy; returns bytes saved."""
    others: dict[tuple[str, int], Path] = {}
    for other in root.glob("*/*.whl"):
        if other.parent != target:
            others.setdefault((other.name, other.stat().st_size), other)
    saved = 0
    for wheel in target.glob("*.whl"):
        stat = wheel.stat()
        twin = others.get((wheel.name, stat.st_size))
        if twin is None or twin.stat().st_ino == stat.st_ino:
            continue
        tmp = wheel.with_suffix(".link")
        os.link(twin, tmp)
        os.replace(tmp, wheel)
        saved += stat.st_size
    return saved


# The wheelhouse URL is a build argument, so it is part of Docker's cache key: a fixed port
# keeps unchanged layers cached across runs (a busy port only costs a rebuild).
WHEELHOUSE_PORT = int(os.environ.get("SEDNA_WHEELHOUSE_PORT", "38417"))


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 for pip's --find-links; yields the URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", WHEELHOUSE_PORT), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


# ---------------------------------------------------------------------------- builds
@dataclass
class ImageBuild:
    """One ``docker build`` from the repository root."""

    name: str
    dockerfile: Path
    tags: list[str]
    build_args: dict[str, str] = field(default_factory=dict)
    pip: bool = True  # installs from the wheelhouse
    deps_key: str = ""  # requirements_key of what it installs, set as the DEPS_LABEL

    @property
    def build_stage_tag(self) -> str | None:
        """The tag its ``build`` stage is kept under, for multi-stage Dockerfiles.

        The legacy builder leaves a multi-stage build's first stage as an untagged image: the
        build cache of the next build, but indistinguishable from a stale one. Tagged, every
        untagged image of ours is stale and can be pruned."""
        if " AS build" not in self.dockerfile.read_text():
            return None
        return f"{self.tags[0]}-build"

    def run(self, find_links: str | None) -> float:
        args = dict(self.build_args)
        if self.pip and find_links:
            args.update(PIP_FIND_LINKS=find_links, PIP_NO_INDEX="1")
        argv = ["docker", "build", "--network", "host", "--label", f"{BUILD_LABEL}={self.name}"]
        if self.deps_key:
            argv += ["--label", f"{DEPS_LABEL}={self.deps_key}"]
        argv += ["-f", str(self.dockerfile)]
        for key, value in args.items():
            argv += ["--build-arg", f"{key}={value}"]
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        logs = cache_dir() / "logs"
        start = time.monotonic()
        if self.build_stage_tag:
            stage = [*argv, "--target", "build", "-t", self.build_stage_tag, str(REPO)]
            _run(stage, log_file=logs / f"build-{self.name}-stage.log", env=env)
        final = list(argv)
        for tag in self.tags:
            final += ["-t", tag]
        # The build stage again, all from cache: one image, two tags' worth of steps.
        _run([*final, str(REPO)], log_file=logs / f"build-{self.name}.log", env=env)
        took = time.monotonic() - start
        _say(f"built {', '.join(self.tags)} in {took:.0f}s")
        return took


def chart_version() -> str:
    return str(yaml.safe_load((REPO / "charts" / "sedna" / "Chart.yaml").read_text())["appVersion"])


def _walk_images(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "image" and isinstance(item, str):
                yield item
            else:
                yield from _walk_images(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_images(item)


def example_images() -> dict[str, list[str]]:
    """Example directory name -> the ``sedna-example/*`` images its manifests run."""
    out: dict[str, list[str]] = {}
    for manifest in sorted((REPO / "examples").glob("*/*.yaml")):
        for doc in yaml.safe_load_all(manifest.read_text()):
            for image in _walk_images(doc or {}):
                if image.startswith("sedna-example/"):
                    tags = out.setdefault(manifest.parent.name, [])
                    if image not in tags:
                        tags.append(image)
    return out


def product_builds(torch: bool = False, base_image: str = BASE_IMAGE) -> list[ImageBuild]:
    version = chart_version()
    base = {"BASE_IMAGE": base_image}
    worker = f"sedna-py/worker:{version}"

    def pip_build(name: str, dockerfile: Path, tag: str, extras: tuple[str, ...]) -> ImageBuild:
        return ImageBuild(name, dockerfile, [tag], base, deps_key=requirements_key(extras))

    builds = [
        pip_build("sedna", REPO / "Dockerfile.operator", f"sedna-py/sedna:{version}", ("operator", "market")),
        pip_build("worker", REPO / "images" / "worker.Dockerfile", worker, ("worker",)),
        pip_build(
            "storage-initializer",
            REPO / "images" / "storage-initializer.Dockerfile",
            f"sedna-py/storage-initializer:{version}",
            (),
        ),
    ]
    if torch:
        builds.append(
            pip_build("worker-torch", REPO / "images" / "worker-torch.Dockerfile", f"sedna-py/worker-torch:{version}", ("worker", "torch"))
        )
    for example, tags in example_images().items():
        builds.append(
            ImageBuild(
                f"example-{example}",
                REPO / "images" / "example.Dockerfile",
                tags,
                {"WORKER_IMAGE": worker, "EXAMPLE": example},
                pip=False,
            )
        )
    return builds


def _docker_root() -> Path:
    root = subprocess.run(["docker", "info", "--format", "{{.DockerRootDir}}"], capture_output=True, text=True)
    path = Path(root.stdout.strip() or "/var/lib/docker")
    while not path.exists():
        path = path.parent
    return path


def _free_gb(path: Path) -> float:
    return shutil.disk_usage(path).free / 2**30


def prune_stale() -> None:
    """Remove the images of ours that a rebuild superseded (untagged, labelled ``BUILD_LABEL``).

    Every source change makes new images (the worker-torch one is 6 GB); without this, a
    machine that runs the tests daily fills its disk within days."""
    subprocess.run(
        ["docker", "image", "prune", "--force", "--filter", f"label={BUILD_LABEL}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _image_label(tag: str, label: str) -> str | None:
    return _inspect(tag, f'{{{{index .Config.Labels "{label}"}}}}')


def _stale_deps(build: ImageBuild) -> bool:
    """True when ``build`` will install its dependencies afresh: no kept build stage, or one
    installed from other requirements."""
    stage = build.build_stage_tag
    return build.pip and stage is not None and _image_label(stage, DEPS_LABEL) != build.deps_key


def _need_gb(builds: list[ImageBuild]) -> float:
    """Disk the builds may take, from what is already here.

    A build whose kept build stage was installed from the same requirements reuses its
    dependency layers (the runtime stage's copy of them too, Docker checking the content) and
    adds well under 1 GiB. Otherwise, measured: the three product images with their build
    stages about 6 GiB, worker-torch's build stage 6.2 and its image 6.2; the torch wheels 3."""
    need = 1.0
    for build in builds:
        if _stale_deps(build):
            need += 12.5 if build.name == "worker-torch" else 2.5
    if any(build.name == "worker-torch" for build in builds) and not any(
        (cache_dir() / "wheels").glob("*/torch-*.whl")
    ):
        need += 3.5
    return need


def _check_disk(builds: list[ImageBuild]) -> None:
    """Fail early, saying so, when Docker's disk cannot hold the builds.

    Short of room, untagged images are pruned first (only those that nothing references: the
    build cache of superseded builds, ours or not); then the images of ours that are about to
    be rebuilt from new requirements (their layers would not be reused), and the check is
    made again."""
    path = _docker_root()
    need = _need_gb(builds)
    if _free_gb(path) < need:
        _say(f"{_free_gb(path):.1f} GiB free under {path}, {need:.0f} needed: pruning untagged images")
        subprocess.run(["docker", "image", "prune", "--force"], capture_output=True, text=True, timeout=600)
    if _free_gb(path) < need:
        for build in filter(_stale_deps, builds):
            tags = [tag for tag in (*build.tags, build.build_stage_tag) if tag and _image_id(tag)]
            if tags:
                _say(f"removing {', '.join(tags)} (to be rebuilt from new requirements) to make room")
                subprocess.run(["docker", "rmi", *tags], capture_output=True, text=True, timeout=600)
        prune_stale()
    free = _free_gb(path)
    if free < need:
        raise RuntimeError(f"{free:.1f} GiB free under {path}: the images need about {need:.0f} GiB (free some disk)")


def build_product_images(torch: bool = False, base: str | None = None) -> dict[str, str]:
    """Build every product and example image; returns tag -> image id.

    ``base`` None: the local Debian base and the wheelhouse (no registry, no package index in
    the build). A base image name (e.g. ``python:3.11-slim``, where Docker Hub is reachable):
    that base, and pip reaches the package index as it would for a user."""
    ensure_docker()
    prune_stale()
    extras = ("operator", "market", "worker", *(("torch",) if torch else ()))
    builds = product_builds(torch, base or BASE_IMAGE)
    _check_disk(builds)
    out: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        url = None
        if base is None:
            base_image()
            url = stack.enter_context(serve_directory(wheelhouse(extras)))
        for build in builds:
            build.run(url)
            for tag in build.tags:
                out[tag] = _image_id(tag) or ""
    prune_stale()
    return out


def save(images: dict[str, str], name: str) -> Path:
    """``docker save`` of ``images`` (tag -> id) into one archive in the cache (shared layers
    stored once), named by the images' ids: unchanged images are not saved (nor, by the
    nodes' import markers, imported) again."""
    key = hashlib.sha256(json.dumps(sorted(images.items())).encode()).hexdigest()[:12]
    archive = _images_cache() / f"{name}-{key}.tar"
    if archive.exists():
        return archive
    for old in _images_cache().glob(f"{name}-*.tar"):
        old.unlink()
    tmp = archive.with_suffix(".tmp")
    _run(["docker", "save", "-o", str(tmp), *sorted(images)])
    tmp.replace(archive)
    return archive


# ---------------------------------------------------------------------------- infra
_SCRATCH_DOCKERFILE = """FROM scratch
COPY {binary} /{binary}
USER {user}
ENTRYPOINT ["/{binary}"]
"""


def _pause_source() -> Path:
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    source = Path(gomodcache) / f"k8s.io/kubernetes@v{K8S_VERSION}" / "build" / "pause" / "linux" / "pause.c"
    if not source.exists():
        _run(["go", "mod", "download", f"k8s.io/kubernetes@v{K8S_VERSION}"], cwd=str(bin_dir() / ".build"))
    return source


def build_infra_images() -> Path:
    """The archive holding the pause and CoreDNS images (built once per binary; no Docker
    needed when the archive is cached)."""
    coredns = bin_dir() / "coredns"
    if not coredns.exists():
        raise RuntimeError(f"{coredns} missing: run scripts/build-test-apiserver.sh --node")
    source = _pause_source()
    key = hashlib.sha256(source.read_bytes() + coredns.read_bytes() + _SCRATCH_DOCKERFILE.encode()).hexdigest()[:12]
    stamp = _images_cache() / "infra.key"
    cached = sorted(_images_cache().glob("infra-*.tar"))
    if cached and stamp.exists() and stamp.read_text() == key:
        return cached[0]
    ensure_docker()
    with tempfile.TemporaryDirectory(prefix="sedna-infra-") as tmp:
        ctx = Path(tmp)
        pause = ctx / "pause" / "pause"
        pause.parent.mkdir()
        _run(["gcc", "-Os", "-static", "-o", str(pause), str(source)])
        (pause.parent / "Dockerfile").write_text(_SCRATCH_DOCKERFILE.format(binary="pause", user="65535:65535"))
        _run(["docker", "build", "-t", PAUSE_IMAGE, str(pause.parent)], env={**os.environ, "DOCKER_BUILDKIT": "0"})
        dns = ctx / "coredns"
        dns.mkdir()
        shutil.copy2(coredns, dns / "coredns")
        (dns / "Dockerfile").write_text(_SCRATCH_DOCKERFILE.format(binary="coredns", user="0:0"))
        _run(["docker", "build", "-t", COREDNS_IMAGE, str(dns)], env={**os.environ, "DOCKER_BUILDKIT": "0"})
    archive = save({tag: _image_id(tag) or "" for tag in (PAUSE_IMAGE, COREDNS_IMAGE)}, "infra")
    stamp.write_text(key)
    return archive
