"""The LC's file work for incremental / lifelong learning in ``sedna run`` (a hook of the local
runtime's loop; :mod:`.clusterjobs` is the same work for the ``sedna lc`` DaemonSet).

The IL/LL reconcilers name the round data they need in ``status.controllerState.roundData``
(``{round, dataset, from, to, trainProb, train, eval}``); before each reconcile the runtime
writes those files (train: the first ``trainProb`` share of dataset lines ``from..to``; eval:
the eval shares of the newest five rounds, as Sedna keeps five eval versions) in the dataset's
format, as :mod:`sedna_operator.lc.roundfiles` says (a ``csv`` dataset: ``data.csv`` starting
with the header line), and tells the reconciler which exist in ``Observation.lc_files``.
Writes are idempotent: a resumed run rewrites nothing and repeats no round.

They also act on ``status.controllerState.deploy``, the deploy the reconciler asks of the LC:

* ``kind: hotUpdate`` (IL with hot update): copy ``source`` (the trained model) to ``target`` in
  the job's hot-update directory and point ``config`` (``model_config.json``) at ``modelPath``,
  the path the worker sees (``/model-hot-update/<file>``). The update time written is the
  request's ``requestedAt``, so a rewrite is the same file and the worker reloads once.
* ``kind: copy`` (LL): copy ``source`` (the evaluated KB index) to ``target``
  (``<outputDir>/deploy/index.pkl``); the reconciler waits for it through ``lc_files``.

Host paths go through ``runtime.config.host_path`` (``/var/lib/sedna`` lives in the state
directory). A request is carried out once (marker in the store's meta table); a failed copy is
an event and is tried again on the next pass.

Object storage (:mod:`sedna_operator.lc.objstore`): a Dataset whose index is on s3 is read with
its own ``credentialName``; round files under an s3 ``outputDir`` are uploaded, and deploys from
or to s3 downloaded / uploaded / copied, with the job's ``credentialName``. Both Secrets are the
store's Secret objects (given to ``sedna run -f``); a missing one fails the round or the deploy
with an event naming it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import jobfiles, rounds
from .datasets import DatasetLines, read_dataset, read_remote_dataset, url_to_host_path
from .objstore import CredentialError, S3Credentials, Storage, credentials_from_secret, is_s3_url

if TYPE_CHECKING:  # the local runtime's state: types only, the LC package does not import it
    from ..runtime.local.loop import LocalRuntime
    from ..runtime.local.store import ResourceRow, Store

__all__ = ["prepare_lc_files", "carry_out_deploy", "secret_credentials", "dataset_credentials"]

log = logging.getLogger("sedna.local")


def secret_credentials(
    secrets: dict[tuple[str, str], dict[str, Any]], namespace: str, name: str | None
) -> tuple[S3Credentials | None, str | None]:
    """(credentials, None) of the Secret ``namespace/name`` among ``secrets`` (the store's), or
    (None, why not); (None, None) when no credential is named."""
    if not name:
        return None, None
    try:
        return credentials_from_secret(secrets.get((namespace, name)), namespace, name), None
    except CredentialError as exc:
        return None, str(exc)


def dataset_credentials(store: Store, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """``DatasetMonitor.watch`` keyword arguments for a Dataset's credential (s3 indexes)."""
    name = str(spec.get("credentialName") or "")
    if not name or not is_s3_url(str(spec.get("url", ""))):
        return {}
    creds, problem = secret_credentials(store.objects("Secret"), namespace, name)
    return {"credentials": creds, "credential_problem": problem}


def _storage(runtime: LocalRuntime, namespace: str, credential: Any) -> Storage:
    creds, problem = secret_credentials(runtime.store.objects("Secret"), namespace, str(credential or ""))
    return Storage(
        credentials=creds, problem=problem, read=runtime.config.host_path, write=runtime.config.host_path
    )


def _dataset_lines(runtime: LocalRuntime, namespace: str, name: str) -> DatasetLines | None:
    row = runtime.store.get("Dataset", namespace, name)
    if row is None:
        return None
    spec = row.obj.get("spec") or {}
    url = str(spec.get("url", ""))
    if is_s3_url(url):
        creds, problem = secret_credentials(
            runtime.store.objects("Secret"), namespace, str(spec.get("credentialName") or "")
        )
        return read_remote_dataset(url, str(spec.get("format", "txt")), creds, problem)
    path = url_to_host_path(url)
    if path is None or not Path(path).is_file():
        return None
    return read_dataset(path, str(spec.get("format", "txt")))


def _write_round(runtime: LocalRuntime, row: ResourceRow, data: dict[str, Any], storage: Storage) -> None:
    wanted_paths = [str(data.get(k) or "") for k in ("train", "eval") if data.get(k)]
    if any(map(is_s3_url, wanted_paths)) and all(
        storage.exists(p) if is_s3_url(p) else Path(p).exists() for p in wanted_paths
    ):
        return  # uploaded already: not fetched and checked again every pass
    dataset = _dataset_lines(runtime, row.namespace, str(data.get("dataset", "")))
    if dataset is None:
        return
    key = f"evalversions:{row.kind}/{row.namespace}/{row.name}"
    versions: dict[str, list[Any]] = json.loads(runtime.store.get_meta(key) or "{}")
    dataset_row = runtime.store.get("Dataset", row.namespace, str(data.get("dataset", "")))
    dataset_url = str(((dataset_row.obj.get("spec") or {}) if dataset_row else {}).get("url", ""))
    files, versions = jobfiles.round_contents(data, dataset, dataset_url, versions)
    runtime.store.set_meta(key, json.dumps(versions))
    for path, content in files.items():
        if is_s3_url(path):
            if not storage.exists(path):
                storage.write_bytes(path, content)
        elif not Path(path).exists():
            rounds.atomic_write_bytes(path, content)


def _round_failed(runtime: LocalRuntime, row: ResourceRow, data: dict[str, Any], exc: Exception) -> None:
    """One Warning event per distinct failure (a bad dataset fails every pass until fixed)."""
    message = f"round {data.get('round')} data not written: {exc}"
    log.warning("%s/%s: %s", row.kind, row.name, message)
    marker = f"round:{row.kind}/{row.namespace}/{row.name}"
    if runtime.errors.get(marker) != message:
        runtime.store.add_event(row.kind, row.namespace, row.name, "Warning", "RoundDataFailed", message)
        runtime.errors[marker] = message


def _deploy_marker(row: ResourceRow) -> str:
    return f"deploy:{row.kind}/{row.namespace}/{row.name}"


def carry_out_deploy(
    runtime: LocalRuntime, row: ResourceRow, request: dict[str, Any], storage: Storage | None = None
) -> dict[str, bool]:
    """Do the deploy ``request`` once; return ``{target: exists}`` for the reconciler."""
    kind = str(request.get("kind", ""))
    target = str(request.get("target") or "")
    if not jobfiles.valid_deploy(request):
        return {}
    if storage is None:
        storage = _storage(runtime, row.namespace, (row.obj.get("spec") or {}).get("credentialName"))
    marker = json.dumps([request.get("round"), request.get("requestedAt"), kind], sort_keys=True)
    if runtime.store.get_meta(_deploy_marker(row)) != marker:
        try:
            jobfiles.carry_out(request, runtime.config.host_path, runtime.config.host_path, storage)
        except (OSError, KeyError, ValueError) as exc:
            message = f"{kind} of {request.get('source')} to {target} failed: {exc}"
            if runtime.errors.get(_deploy_marker(row)) != message:
                runtime.store.add_event(
                    row.kind, row.namespace, row.name, "Warning", "DeployCopyFailed", message
                )
                runtime.errors[_deploy_marker(row)] = message
            return {target: False}
        runtime.errors.pop(_deploy_marker(row), None)
        runtime.store.set_meta(_deploy_marker(row), marker)
        runtime.store.add_event(
            row.kind,
            row.namespace,
            row.name,
            "Normal",
            "DeployCopied",
            f"{kind}: {request.get('source')} -> {target}",
        )
    if is_s3_url(target):
        return {target: True}  # carried out above (the marker is set only on success)
    return {target: Path(runtime.config.host_path(target)).exists()}


def prepare_lc_files(runtime: LocalRuntime, row: ResourceRow) -> dict[str, bool]:
    """Write what ``row``'s controllerState asks of the LC; return ``{path: exists}``."""
    status = row.obj.get("status") or {}
    state = status.get("controllerState") or {}
    files: dict[str, bool] = {}
    data = state.get("roundData")
    request = state.get("deploy")
    if not isinstance(data, dict) and not isinstance(request, dict):
        return files
    storage = _storage(runtime, row.namespace, (row.obj.get("spec") or {}).get("credentialName"))
    if isinstance(data, dict):
        try:
            _write_round(runtime, row, data, storage)
        except (OSError, ValueError) as exc:  # ValueError: an empty csv, an unknown format
            _round_failed(runtime, row, data, exc)
        else:
            runtime.errors.pop(f"round:{row.kind}/{row.namespace}/{row.name}", None)
        for key in ("train", "eval"):
            if data.get(key):
                path = str(data[key])
                try:
                    files[path] = storage.exists(path) if is_s3_url(path) else Path(path).exists()
                except OSError:
                    files[path] = False  # the write above said why
    if isinstance(request, dict):
        files.update(carry_out_deploy(runtime, row, request, storage))
    return files
