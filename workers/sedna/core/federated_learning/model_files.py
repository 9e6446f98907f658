"""Where a trainer keeps its model: one file per trainer, and the aggregated model at ``MODEL_URL``.

Every trainer of a federated-learning job gets the same ``MODEL_URL`` (the job's aggregation
Model). Sedna's trainers all saved there every round, each over the others, so the file held
whichever trainer wrote last, sometimes half-written. Here:

* each round a trainer saves to its own file beside ``MODEL_URL``:
  ``<dir>/<stem>.<trainer><ext>`` for a file URL (``model/digits.pkl`` →
  ``model/digits.fl-digits-edge1.pkl``), ``<dir>/<trainer>/`` for a directory URL;
  ``<trainer>`` is ``DATASET_NAME`` (stable across restarts), else ``WORKER_NAME``;
* after the last round (every trainer then holds the same aggregated weights) the model is
  published to ``MODEL_URL`` itself through a temporary file and an atomic rename, so the path
  the Model CR names always holds one whole aggregated model.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from sedna.common.file_ops import FileOps
from sedna.common.utils import get_file_format

__all__ = ["is_file_url", "trainer_tag", "trainer_model_path", "publish_model"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def is_file_url(url: str) -> bool:
    """Whether ``url`` names a file (it is one, or it has an extension and is no directory)."""
    if FileOps.is_remote(url):
        return bool(get_file_format(url))
    return os.path.isfile(url) or (bool(get_file_format(url)) and not os.path.isdir(url))


def trainer_tag(dataset_name: str | None, worker_name: str) -> str:
    """A file-name-safe name for this trainer: its dataset's name, else its worker name."""
    tag = _UNSAFE.sub("-", (dataset_name or worker_name or "trainer").strip()).strip("-.")
    return tag or "trainer"


def trainer_model_path(model_url: str, tag: str) -> str:
    """This trainer's own model path beside ``model_url`` (see the module docstring)."""
    if is_file_url(model_url):
        head, name = model_url.rstrip("/").rsplit("/", 1) if "/" in model_url else ("", model_url)
        stem, ext = os.path.splitext(name)
        own = f"{stem}.{tag}{ext}"
        return f"{head}/{own}" if head else own
    return FileOps.join_path(model_url, tag)


def _replace_file(src: str, dst: str) -> None:
    parent = os.path.dirname(os.path.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dst)}.", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)  # atomic: readers see the old or the new model, never a mix
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def publish_model(src: str, dst: str) -> str:
    """Put the model at ``src`` (a file or directory) at ``dst``; returns ``dst``.

    Local files are replaced atomically, a directory file by file; a remote ``dst`` is uploaded
    (a remote ``src`` is downloaded first).
    """
    if FileOps.is_remote(src):
        src = FileOps.download(src)
    if os.path.isfile(src) and not is_file_url(dst):  # a directory MODEL_URL: the file goes in it
        dst = FileOps.join_path(dst, os.path.basename(src))
    if FileOps.is_remote(dst):
        return FileOps.upload(src, dst)
    if os.path.isdir(src):
        for root, _dirs, files in os.walk(src):
            for name in files:
                rel = os.path.relpath(os.path.join(root, name), src)
                _replace_file(os.path.join(root, name), os.path.join(dst, rel))
        return dst
    _replace_file(src, dst)
    return dst
