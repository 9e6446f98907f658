"""Which local directory stands for a container image, and what the image would run.

A worker's container ``image`` is looked up, first match wins, in:

1. ``--image-map IMAGE=DIR`` options (``IMAGE`` may be a glob such as ``sedna-example/*``);
2. ``sedna-images.yaml`` files beside the manifests::

       images:
         sedna-example/fl-train: .            # a directory, relative to this file
         my/image:
           dir: ../shared
           entrypoint: [python, serve.py]     # the image's ENTRYPOINT, used when a container has no command

3. the built-in images (``*storage-initializer*`` runs ``python -m sedna.storage_initializer``);
4. otherwise the directory of the manifest file that declared the resource.

Tags are ignored when an entry has none (``a/b`` matches ``a/b:v1``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ImageEntry", "ImageMap", "IMAGE_FILE", "parse_image_option"]

IMAGE_FILE = "sedna-images.yaml"

BUILTIN_ENTRYPOINTS: dict[str, list[str]] = {
    "*storage-initializer*": ["python", "-m", "sedna.storage_initializer"],
}


@dataclass(frozen=True)
class ImageEntry:
    directory: Path | None
    entrypoint: tuple[str, ...] = ()


def _strip_tag(image: str) -> str:
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return image[: len(image) - len(last)] + last.split(":", 1)[0]
    return image


def _matches(pattern: str, image: str) -> bool:
    return fnmatch.fnmatchcase(image, pattern) or fnmatch.fnmatchcase(_strip_tag(image), pattern)


def parse_image_option(option: str, base: Path | None = None) -> tuple[str, ImageEntry]:
    """``IMAGE=DIR`` -> (pattern, entry); ``DIR`` is resolved against ``base`` (default cwd)."""
    image, sep, directory = option.partition("=")
    if not sep or not image or not directory:
        raise ValueError(f"--image-map expects IMAGE=DIR, got {option!r}")
    path = Path(directory).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return image, ImageEntry(path.resolve())


@dataclass
class ImageMap:
    """Ordered (pattern, entry) rules; see the module docstring for the lookup order."""

    rules: list[tuple[str, ImageEntry]] = field(default_factory=list)

    def add_option(self, option: str) -> None:
        self.rules.append(parse_image_option(option))

    def add_file(self, path: Path) -> None:
        """Read a ``sedna-images.yaml``; relative directories are relative to the file."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        images = data.get("images", {}) if isinstance(data, dict) else {}
        if not isinstance(images, dict):
            raise ValueError(f"{path}: 'images' must be a mapping of image -> directory")
        for image, value in images.items():
            self.rules.append((str(image), _entry(value, path.parent, f"{path}: {image}")))

    def lookup(self, image: str, default_dir: Path | None) -> ImageEntry:
        """The entry for ``image``: first matching rule, else built-ins, else ``default_dir``."""
        for pattern, entry in self.rules:
            if _matches(pattern, image):
                if entry.directory is None:
                    return ImageEntry(default_dir, entry.entrypoint)
                return entry
        for pattern, entrypoint in BUILTIN_ENTRYPOINTS.items():
            if _matches(pattern, image):
                return ImageEntry(default_dir, tuple(entrypoint))
        return ImageEntry(default_dir)


def _entry(value: Any, base: Path, what: str) -> ImageEntry:
    if isinstance(value, str):
        return ImageEntry((base / value).resolve())
    if isinstance(value, dict):
        directory = value.get("dir")
        entrypoint = value.get("entrypoint") or []
        if not isinstance(entrypoint, list):
            raise ValueError(f"{what}: entrypoint must be a list of strings")
        return ImageEntry(
            (base / str(directory)).resolve() if directory else None, tuple(map(str, entrypoint))
        )
    raise ValueError(f"{what}: expected a directory or {{dir, entrypoint}}")


def discover_image_files(manifest_paths: list[Path]) -> list[Path]:
    """``sedna-images.yaml`` files in the given directories or beside the given files."""
    seen: list[Path] = []
    for p in manifest_paths:
        directory = p if p.is_dir() else p.parent
        candidate = (directory / IMAGE_FILE).resolve()
        if candidate.is_file() and candidate not in seen:
            seen.append(candidate)
    return seen
