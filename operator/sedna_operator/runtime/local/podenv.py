"""A Pod manifest -> the local processes that stand for its containers (pure, no I/O).

What a container sees in Kubernetes and what the local process gets instead:

- **env**: the container's ``env`` list in order, with ``$(VAR)`` expanded from earlier entries
  as the kubelet does (``$$`` escapes). ``valueFrom``: ``secretKeyRef`` / ``configMapKeyRef``
  from the Secret / ConfigMap manifests given to ``sedna run`` (a missing one is an error
  naming it), ``fieldRef`` ``status.hostIP`` / ``status.podIP`` -> ``127.0.0.1``,
  ``metadata.name|namespace``, ``spec.nodeName``. ``$(NODE_IP)`` is ``127.0.0.1`` unless defined.
- **LC_SERVER** is the URL of the in-process local controller; **KB_SERVER** the local knowledge
  base when one runs.
- **Service host names** (``<svc>.<ns>``, ``<svc>.<ns>.svc[.cluster.local]``) in env values and
  args become ``127.0.0.1``. When the runtime moved a service to another port (two workers would
  bind the same one), ``<X>_PORT`` beside an ``<X>_IP|HOST|ADDR|ADDRESS`` naming that service, the
  ``host:port`` in URLs, and the server's ``*_BIND_PORT`` are rewritten to the port it really got;
  the server's ``*_BIND_IP`` defaults to ``127.0.0.1``, where clients reach it.
- **Volumes**: a ``hostPath`` mount maps its ``mountPath`` to the host path (through
  ``host_path``, which moves ``/var/lib/sedna`` under the state directory); ``emptyDir``,
  ``secret`` and ``configMap`` volumes are directories under the pod's directory. Every env value,
  command and arg that starts with a mount path (``;``-separated lists too) is rewritten to the
  local path. ``DATA_PATH_PREFIX`` becomes ``""``: paths are already host paths, so the SDK's
  "strip the prefix to get the host path" step is a no-op and reports carry host paths.
- **Image**: the working directory is the image's directory (see :mod:`.images`); paths under the
  container's ``workingDir`` map into it. ``python``/``python3`` run the current interpreter.
- The process env is a small base (``PATH``, ``HOME``, locale, ``PYTHONUNBUFFERED=1`` ...) plus
  the container env: nothing else of the caller's environment leaks in.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .images import ImageMap

__all__ = [
    "LocalRuntimeError",
    "ServiceInfo",
    "ProcessSpec",
    "PodProcesses",
    "PodContext",
    "pod_processes",
    "service_hosts",
    "expand",
    "BASE_ENV_KEYS",
    "LOCAL_IP",
]

LOCAL_IP = "127.0.0.1"
BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT", "VIRTUAL_ENV", "PYTHONPATH")
_HOST_SUFFIX_VARS = ("_IP", "_HOST", "_ADDR", "_ADDRESS", "_SERVER")
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class LocalRuntimeError(RuntimeError):
    """A pod cannot be run locally (missing secret, unknown image entrypoint...)."""


@dataclass(frozen=True)
class ServiceInfo:
    """A Service the runtime knows, and the local port each of its ports really got."""

    name: str
    namespace: str
    selector: Mapping[str, str]
    ports: Mapping[int, int]  # declared port (and targetPort) -> actual local port

    def hosts(self) -> tuple[str, ...]:
        base = f"{self.name}.{self.namespace}"
        return (f"{base}.svc.cluster.local", f"{base}.svc", base)

    def selects(self, labels: Mapping[str, str]) -> bool:
        return bool(self.selector) and all(labels.get(k) == v for k, v in self.selector.items())


@dataclass
class ProcessSpec:
    container: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path


@dataclass
class PodProcesses:
    init: list[ProcessSpec]
    main: ProcessSpec
    directories: list[Path] = field(default_factory=list)
    files: dict[Path, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: values of the namespace's Secrets, to blank out wherever a command line is logged
    secret_values: frozenset[str] = frozenset()

    def redact(self, text: str) -> str:
        """``text`` with every Secret value (4 characters or more) replaced by ``******``."""
        for value in sorted(self.secret_values, key=len, reverse=True):
            text = text.replace(value, "******")
        return text


@dataclass
class PodContext:
    """Everything outside the pod manifest that decides how it runs locally."""

    lc_url: str
    pod_dir: Path
    default_image_dir: Path | None
    image_map: ImageMap = field(default_factory=ImageMap)
    kb_url: str | None = None
    secrets: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    configmaps: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    services: list[ServiceInfo] = field(default_factory=list)
    host_path: Callable[[str], str] = lambda p: p
    python: str = sys.executable
    base_env: Mapping[str, str] = field(default_factory=dict)


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names are replaced, others kept, ``$$`` is ``$``."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REF.sub(repl, text)


def service_hosts(services: list[ServiceInfo]) -> dict[str, ServiceInfo]:
    """Every host name of every service, longest first (so ``a.b.svc`` wins over ``a.b``)."""
    hosts = {h: s for s in services for h in s.hosts()}
    return dict(sorted(hosts.items(), key=lambda kv: -len(kv[0])))


def _host_pattern(host: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.-]){re.escape(host)}(?::(\d+))?(?![\w-]|\.\w)")


def _rewrite_hosts(value: str, hosts: Mapping[str, ServiceInfo]) -> tuple[str, ServiceInfo | None]:
    """Replace service host names (and their ``:port``) in ``value``; return the service named."""
    named: ServiceInfo | None = None
    for host, svc in hosts.items():
        pattern = _host_pattern(host)
        if not pattern.search(value):
            continue
        named = named or svc

        def repl(match: re.Match[str], svc: ServiceInfo = svc) -> str:
            port = match.group(1)
            if port is None:
                return LOCAL_IP
            return f"{LOCAL_IP}:{svc.ports.get(int(port), int(port))}"

        value = pattern.sub(repl, value)
    return value, named


def _secret_value(
    ref: Mapping[str, Any], store: Mapping[tuple[str, str], Mapping[str, str]], ns: str, what: str
) -> str | None:
    name, key = str(ref.get("name", "")), str(ref.get("key", ""))
    data = store.get((ns, name))
    optional = bool(ref.get("optional", False))
    if data is None or key not in data:
        if optional:
            return None
        missing = f"{what} {ns}/{name}" if data is None else f"key {key!r} of {what} {ns}/{name}"
        raise LocalRuntimeError(
            f"{missing} is not known: pass its manifest to `sedna run -f` (a v1 {what} with data/stringData)"
        )
    return data[key]


class _Mounts:
    """Container path -> local path, longest mount first."""

    def __init__(self) -> None:
        self.table: list[tuple[str, str]] = []

    def add(self, container_path: str, local_path: str) -> None:
        self.table.append((container_path.rstrip("/") or "/", local_path))
        self.table.sort(key=lambda kv: -len(kv[0]))

    def map_path(self, value: str) -> str:
        for mount, local in self.table:
            if value == mount or value.startswith(mount + "/"):
                return local + value[len(mount) :]
        return value

    def map_value(self, value: str) -> str:
        if not value.startswith("/"):
            return value
        return ";".join(self.map_path(part) for part in value.split(";"))


def _volume_mounts(
    pod: Mapping[str, Any], container: Mapping[str, Any], ctx: PodContext, out: PodProcesses
) -> _Mounts:
    mounts = _Mounts()
    volumes = {v.get("name"): v for v in (pod.get("spec", {}).get("volumes") or [])}
    ns = pod.get("metadata", {}).get("namespace") or "default"
    for vm in container.get("volumeMounts") or []:
        vol = volumes.get(vm.get("name"))
        mount_path = str(vm.get("mountPath", ""))
        if vol is None or not mount_path:
            out.warnings.append(f"volumeMount {vm.get('name')!r} has no volume; ignored")
            continue
        sub = str(vm.get("subPath") or "")
        if "hostPath" in vol:
            local = ctx.host_path(str(vol["hostPath"].get("path", "")))
            if vol["hostPath"].get("type") in ("DirectoryOrCreate",):
                out.directories.append(Path(local))
        else:
            local = str(ctx.pod_dir / "volumes" / str(vm.get("name")))
            out.directories.append(Path(local))
            source: Mapping[str, str] | None = None
            if "secret" in vol:
                source = ctx.secrets.get((ns, str(vol["secret"].get("secretName", ""))))
                if source is None and not vol["secret"].get("optional"):
                    raise LocalRuntimeError(
                        f"volume {vm.get('name')!r} needs Secret {ns}/{vol['secret'].get('secretName')}: pass its manifest to `sedna run -f`"
                    )
            elif "configMap" in vol:
                source = ctx.configmaps.get((ns, str(vol["configMap"].get("name", ""))))
            elif "emptyDir" not in vol:
                out.warnings.append(
                    f"volume {vm.get('name')!r}: only hostPath, emptyDir, secret and configMap are mapped locally"
                )
            for key, text in (source or {}).items():
                out.files[Path(local) / key] = text.encode("utf-8")
        if sub:
            local = str(PurePosixPath(local) / sub)
        mounts.add(mount_path, local)
    return mounts


def _container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], ctx: PodContext, mounts: _Mounts
) -> dict[str, str]:
    meta = pod.get("metadata", {})
    ns = meta.get("namespace") or "default"
    fields = {
        "status.hostIP": LOCAL_IP,
        "status.podIP": LOCAL_IP,
        "metadata.name": str(meta.get("name", "")),
        "metadata.namespace": ns,
        "spec.nodeName": str(pod.get("spec", {}).get("nodeName") or "localhost"),
        "spec.serviceAccountName": str(pod.get("spec", {}).get("serviceAccountName") or "default"),
    }
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = str(src.get("prefix") or "")
        if "secretRef" in src:
            data = ctx.secrets.get((ns, str(src["secretRef"].get("name"))))
            if data is None and not src["secretRef"].get("optional"):
                raise LocalRuntimeError(
                    f"envFrom needs Secret {ns}/{src['secretRef'].get('name')}: pass its manifest to `sedna run -f`"
                )
        else:
            data = ctx.configmaps.get((ns, str((src.get("configMapRef") or {}).get("name"))))
        env.update({prefix + k: v for k, v in (data or {}).items()})
    for item in container.get("env") or []:
        name = str(item.get("name"))
        scope = {"NODE_IP": LOCAL_IP, **env}
        if "valueFrom" in item:
            vf = item["valueFrom"] or {}
            value: str | None
            if "secretKeyRef" in vf:
                value = _secret_value(vf["secretKeyRef"], ctx.secrets, ns, "Secret")
            elif "configMapKeyRef" in vf:
                value = _secret_value(vf["configMapKeyRef"], ctx.configmaps, ns, "ConfigMap")
            elif "fieldRef" in vf:
                path = str(vf["fieldRef"].get("fieldPath", ""))
                value = fields.get(path)
                if value is None and path.startswith("metadata.labels['"):
                    value = (meta.get("labels") or {}).get(path[len("metadata.labels['") : -2], "")
                if value is None:
                    raise LocalRuntimeError(f"env {name}: fieldRef {path!r} is not supported locally")
            else:
                raise LocalRuntimeError(f"env {name}: valueFrom {sorted(vf)} is not supported locally")
            if value is None:
                continue
        else:
            value = expand(str(item.get("value", "")), scope)
        env[name] = value
    return env


def _rewrite_env(
    env: dict[str, str], pod_labels: Mapping[str, str], ctx: PodContext, mounts: _Mounts
) -> dict[str, str]:
    hosts = service_hosts(ctx.services)
    named: dict[str, ServiceInfo] = {}
    out: dict[str, str] = {}
    for name, value in env.items():
        value, svc = _rewrite_hosts(value, hosts)
        if svc is not None:
            for suffix in _HOST_SUFFIX_VARS:
                if name.endswith(suffix):
                    named[name[: -len(suffix)]] = svc
        out[name] = mounts.map_value(value)
    for prefix, svc in named.items():
        port_var = f"{prefix}_PORT"
        if port_var in out and out[port_var].isdigit():
            out[port_var] = str(svc.ports.get(int(out[port_var]), int(out[port_var])))
    for svc in ctx.services:
        if not svc.selects(pod_labels):
            continue
        for name, value in list(out.items()):
            if name.endswith("BIND_PORT") and value.isdigit() and int(value) in svc.ports:
                out[name] = str(svc.ports[int(value)])
                # Clients reach services on 127.0.0.1: a server defaulting to the host's outward
                # IP (Sedna's BigModelService) would not be reachable there.
                out.setdefault(name[: -len("PORT")] + "IP", LOCAL_IP)
    out["LC_SERVER"] = ctx.lc_url
    if ctx.kb_url and "KB_SERVER" in out:
        out["KB_SERVER"] = ctx.kb_url
    if "DATA_PATH_PREFIX" in out:
        out["DATA_PATH_PREFIX"] = ""
    return out


def _process(
    pod: Mapping[str, Any], container: Mapping[str, Any], ctx: PodContext, out: PodProcesses
) -> ProcessSpec:
    cname = str(container.get("name", "main"))
    image = str(container.get("image", ""))
    entry = ctx.image_map.lookup(image, ctx.default_image_dir)
    if entry.directory is None:
        raise LocalRuntimeError(
            f"container {cname}: no directory for image {image!r}; use --image-map {image}=DIR"
        )
    mounts = _volume_mounts(pod, container, ctx, out)
    workdir = container.get("workingDir")
    if workdir:
        mounts.add(str(workdir), str(entry.directory))
    labels = dict(pod.get("metadata", {}).get("labels") or {})
    raw_env = _container_env(pod, container, ctx, mounts)
    env = _rewrite_env(raw_env, labels, ctx, mounts)
    command = [str(c) for c in (container.get("command") or [])] or list(entry.entrypoint)
    args = [str(a) for a in (container.get("args") or [])]
    if not command and not args:
        raise LocalRuntimeError(
            f"container {cname}: no command, and image {image!r} has no entrypoint in sedna-images.yaml"
        )
    hosts = service_hosts(ctx.services)
    argv = []
    for part in command + args:
        part = expand(part, {"NODE_IP": LOCAL_IP, **env})
        part, _ = _rewrite_hosts(part, hosts)
        argv.append(mounts.map_value(part))
    if re.fullmatch(r"python(\d(\.\d+)?)?", PurePosixPath(argv[0]).name):
        argv[0] = ctx.python
    full_env = {k: v for k, v in ctx.base_env.items()}
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    full_env.update(env)
    return ProcessSpec(cname, argv, full_env, entry.directory)


def pod_processes(pod: Mapping[str, Any], ctx: PodContext) -> PodProcesses:
    """The init processes (run in order, each to success) and the main process of ``pod``.

    Only the first container runs: Sedna's workers have one. Raises :class:`LocalRuntimeError`
    with a message naming the missing piece when the pod cannot run locally.
    """
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        raise LocalRuntimeError(f"pod {pod.get('metadata', {}).get('name')} has no containers")
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    secrets = frozenset(
        v for (secret_ns, _), data in ctx.secrets.items() if secret_ns == ns for v in data.values() if len(v) >= 4
    )
    out = PodProcesses(init=[], main=ProcessSpec("", [], {}, Path(".")), secret_values=secrets)
    out.init = [_process(pod, c, ctx, out) for c in spec.get("initContainers") or []]
    out.main = _process(pod, containers[0], ctx, out)
    if len(containers) > 1:
        out.warnings.append(f"only the first container ({out.main.container}) runs locally")
    return out


def default_base_env() -> dict[str, str]:
    """What an image provides: the caller's PATH/HOME/locale/venv, nothing else."""
    return {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
