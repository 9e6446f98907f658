"""What the LC does for an incremental / lifelong learning job on its node, runtime-independent.

The IL/LL reconcilers ask the LC for two things in ``status.controllerState``:

* ``roundData`` (``{round, dataset, from, to, trainProb, train, eval}``): the round's sample
  files. Train: the first ``trainProb`` share of dataset lines ``from..to``; eval: the eval
  shares of the newest five rounds (Sedna keeps five eval versions), see :func:`round_samples`.
* ``deploy`` (``{round, kind, source, target, requestedAt, [config, modelPath]}``):
  ``kind: hotUpdate`` copies the trained model into the job's hot-update directory and points
  ``model_config.json`` at ``modelPath`` (the update time written is ``requestedAt``, so doing
  it twice writes the same file); ``kind: copy`` copies ``source`` to ``target`` (LL's
  ``<outputDir>/deploy/index.pkl``). See :func:`carry_out`.

Both runtimes use these helpers: the local runtime with its state directory as the host, the
``sedna lc`` DaemonSet with the host's paths under its rootfs / writable mounts. Which paths the
reconcilers wait on is :func:`waited_paths`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.times import parse_time
from . import roundfiles, rounds
from .datasets import DatasetLines
from .objstore import Storage, is_s3_url

__all__ = [
    "DEPLOY_KINDS",
    "round_samples",
    "round_contents",
    "used_versions",
    "samples_bytes",
    "deploy_id",
    "valid_deploy",
    "requested_at",
    "copy_artifact",
    "carry_out",
    "waited_paths",
]

DEPLOY_KINDS = ("hotUpdate", "copy")


def round_samples(
    lines: Sequence[str], versions: Mapping[str, Sequence[Any]], data: Mapping[str, Any]
) -> tuple[list[str], list[str], dict[str, list[Any]]]:
    """(train lines, eval lines, eval versions with this round's) of the round ``data`` names.

    ``versions`` maps earlier rounds to their ``[from, to, trainProb]``; the eval lines are the
    eval shares of the newest :data:`rounds.MAX_EVAL_VERSIONS` non-empty versions up to this round.
    """
    start, stop = int(data.get("from", 0)), int(data.get("to", 0))
    prob = float(data.get("trainProb", 1.0))
    round_no = int(data.get("round", 0))
    out = {str(k): list(v) for k, v in versions.items()}
    out[str(round_no)] = [start, stop, prob]
    train, _ = rounds.split_new_samples(lines[start:stop], prob)
    kept: list[list[str]] = []
    for r in sorted(out, key=int):
        if int(r) <= round_no:
            a, b, p = out[r]
            kept = rounds.append_eval_version(
                kept, rounds.split_new_samples(lines[int(a) : int(b)], float(p))[1]
            )
    return train, [line for version in kept for line in version], out


def round_contents(
    data: Mapping[str, Any],
    dataset: DatasetLines,
    dataset_url: str,
    versions: Mapping[str, Sequence[Any]],
    needed: Sequence[str] | None = None,
) -> tuple[dict[str, bytes], dict[str, list[Any]]]:
    """``({path: content}, eval versions with this round's)`` of the round ``data`` names: the
    train and eval files (``needed`` of them; all by default) in the dataset's format, and the
    ``dataIndex.txt`` of an s3 dataset. Both LCs (``clusterjobs``, ``localjobs``) write these."""
    train, eval_lines, updated = round_samples(dataset.samples, versions, data)
    content = {str(data.get("train") or ""): train, str(data.get("eval") or ""): eval_lines}
    wanted = {t: c for t, c in content.items() if t and (needed is None or t in needed)}
    files = roundfiles.round_files(wanted, dataset.format, dataset.header)
    files.update(roundfiles.index_files(wanted, dataset_url))
    return files, updated


def used_versions(lines: Sequence[str], versions: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Only the versions a later round can still use: the newest non-empty ones (bounded state)."""
    nonempty = [
        r for r in sorted(versions, key=int)
        if rounds.split_new_samples(lines[int(versions[r][0]):int(versions[r][1])], float(versions[r][2]))[1]
    ]  # fmt: skip
    keep = set(nonempty[-rounds.MAX_EVAL_VERSIONS :])
    return {r: list(v) for r, v in versions.items() if r in keep}


def samples_bytes(samples: Sequence[str]) -> bytes:
    """A round file's content: one sample a line."""
    return ("\n".join(samples) + ("\n" if samples else "")).encode()


def valid_deploy(request: Any) -> bool:
    """Whether ``request`` is a deploy the LC can carry out."""
    return (
        isinstance(request, Mapping)
        and str(request.get("kind", "")) in DEPLOY_KINDS
        and bool(request.get("source"))
        and bool(request.get("target"))
    )


def deploy_id(request: Mapping[str, Any]) -> str:
    """The identity of one deploy request: ``r<round>-<kind>-<requestedAt>``."""
    return f"r{request.get('round')}-{request.get('kind')}-{request.get('requestedAt')}"


def requested_at(request: Mapping[str, Any]) -> datetime:
    return parse_time(request.get("requestedAt")) or datetime.now(UTC)


def copy_artifact(source: Path, target: Path) -> None:
    """Atomic copy of a model file; a model directory is copied as a tree."""
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    elif source.is_file():
        rounds.atomic_copy(source, target)
    else:
        raise FileNotFoundError(f"{source} does not exist")


def carry_out(
    request: Mapping[str, Any],
    read: Callable[[str], str],
    write: Callable[[str], str],
    storage: Storage | None = None,
) -> None:
    """Do the deploy ``request`` (raises OSError / KeyError / ValueError on failure).

    ``read`` / ``write`` map a host path to where this process reads / writes it. An ``s3://``
    source or target (an s3 ``outputDir``) is downloaded / uploaded / copied with ``storage``'s
    credentials (the job's ``credentialName``); ``ObjectStoreError`` (an OSError) says what failed.
    """
    kind = str(request.get("kind", ""))
    source, target = str(request["source"]), str(request["target"])
    remote = [u for u in (source, target) if "://" in u and not u.startswith("file://")]
    if any(not is_s3_url(u) for u in remote):
        raise ValueError(f"{remote[0]} is neither a host path nor s3 (the LC copies only those)")
    if remote:
        store = storage or Storage()
        store.read, store.write = read, write
        store.copy(source, target)
    else:
        copy_artifact(Path(read(source)), Path(write(target)))
    if kind == "hotUpdate":
        model_path = str(request.get("modelPath") or target)
        rounds.write_hot_update_config(write(str(request["config"])), model_path, requested_at(request))


def waited_paths(controller_state: Mapping[str, Any] | None) -> tuple[list[str], tuple[str, str] | None]:
    """(round data files, (deploy target, deploy id) or None) the reconcilers may wait for."""
    state = controller_state or {}
    files: list[str] = []
    data = state.get("roundData")
    if isinstance(data, Mapping):
        files = [str(data[k]) for k in ("train", "eval") if data.get(k)]
    request = state.get("deploy")
    deploy = None
    if isinstance(request, Mapping) and valid_deploy(request):
        deploy = (str(request["target"]), deploy_id(request))
    return files, deploy
