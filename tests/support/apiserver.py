"""A real Kubernetes control plane for tests: etcd + kube-apiserver (+ kube-controller-manager).

The binaries are built from the Kubernetes Go modules by scripts/build-test-apiserver.sh and
cached outside the repository; this module finds them (building them when absent), starts the
processes on free 127.0.0.1 ports in a temporary directory, writes an admin kubeconfig and
stops everything on exit. There is no kubelet: tests set pod status themselves.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = os.environ.get("SEDNA_K8S_VERSION", "1.34.4")
ADMIN_TOKEN = "sedna-test-admin-token"


def bin_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sedna" / f"k8s-v{K8S_VERSION}"
    return Path(os.environ.get("SEDNA_TEST_BIN_DIR", default))


def tools_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sedna" / "bin"
    return Path(os.environ.get("SEDNA_TOOLS_DIR", default))


def ensure_binaries() -> Path:
    """Return the directory with etcd, kube-apiserver and kube-controller-manager, building them if needed."""
    directory = bin_dir()
    needed = ("etcd", "kube-apiserver", "kube-controller-manager")
    if not all((directory / b).exists() for b in needed):
        script = REPO / "scripts" / "build-test-apiserver.sh"
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"building the test API server failed ({script}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    missing = [b for b in needed if not (directory / b).exists()]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} missing from {directory}; run scripts/build-test-apiserver.sh")
    return directory


def find_tool(name: str) -> str:
    """helm or kubectl: the cached copy from scripts/install-kube-tools.sh first, then PATH."""
    cached = tools_dir() / name
    if cached.exists():
        return str(cached)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"{name} not found in {tools_dir()} or on PATH; run scripts/install-kube-tools.sh")


def parse_table(text: str) -> list[dict[str, str]]:
    """``kubectl get`` output as rows of printer columns, cut at the header's column offsets
    (a cell may be empty, so splitting on whitespace would shift the columns)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [{header[a:b].strip(): line[a:b].strip() for a, b in bounds} for line in lines[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Any, what: str, timeout: float, procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"{log.stem} exited with {proc.returncode} while waiting for {what}:\n{log.read_text()[-4000:]}")
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.3)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in logs)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what} (last error: {last})\n{tails}")


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver (+ controller manager) and how to reach it."""

    workdir: Path
    url: str
    kubeconfig: Path
    token: str = ADMIN_TOKEN
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Environment for child processes (kubectl, helm, the operator) pointing at this server."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["HELM_CACHE_HOME"] = str(self.workdir / "helm-cache")
        env["HELM_CONFIG_HOME"] = str(self.workdir / "helm-config")
        env["HELM_DATA_HOME"] = str(self.workdir / "helm-data")
        return env

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, as_user: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [find_tool("kubectl"), *args]
        if as_user:
            cmd += ["--as", as_user]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, env=self.env(), timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def table(self, *args: str) -> list[dict[str, str]]:
        """``kubectl get ARGS`` printer columns as dicts (see :func:`parse_table`)."""
        return parse_table(self.kubectl("get", *args).stdout)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([find_tool("helm"), *args], capture_output=True, text=True, env=self.env(), timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """A raw API call with the admin token (for things kubectl does awkwardly, e.g. pod status)."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def _write_kubeconfig(path: Path, url: str, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sedna-test", "cluster": {"server": url, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "sedna-test", "context": {"cluster": "sedna-test", "user": "admin", "namespace": "default"}}],
        "current-context": "sedna-test",
    }
    path.write_text(json.dumps(config, indent=2))


def start_control_plane(
    workdir: Path | None = None,
    controller_manager: bool = True,
    timeout: float = 120,
    controller_qps: int | None = None,
) -> ControlPlane:
    """Start etcd, kube-apiserver and (optionally) kube-controller-manager; wait until ready.

    ``controller_qps`` raises kube-controller-manager's client limit (``--kube-api-qps``, burst
    twice that) from Kubernetes' default of 20 requests/s, as clusters tuned for bursts of
    Deployments do."""
    bins = ensure_binaries()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="sedna-kube-"))
    workdir.mkdir(parents=True, exist_ok=True)
    etcd_port, peer_port, api_port, kcm_port = free_port(), free_port(), free_port(), free_port()
    sa_key = workdir / "sa.key"
    subprocess.run(["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True)
    sa_pub = workdir / "sa.pub"
    subprocess.run(["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)], check=True, capture_output=True)
    (workdir / "tokens.csv").write_text(f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n')
    url = f"https://127.0.0.1:{api_port}"
    kubeconfig = workdir / "kubeconfig"
    _write_kubeconfig(kubeconfig, url, ADMIN_TOKEN)
    cp = ControlPlane(workdir=workdir, url=url, kubeconfig=kubeconfig)

    def spawn(name: str, cmd: list[str]) -> None:
        log = workdir / f"{name}.log"
        handle = log.open("wb")
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        cp.procs.append(proc)
        cp.logs.append(log)

    atexit.register(cp.stop)
    try:
        spawn("etcd", [
            str(bins / "etcd"), "--data-dir", str(workdir / "etcd"), "--name", "test",
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"test=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ])  # fmt: skip
        spawn("kube-apiserver", [
            str(bins / "kube-apiserver"),
            "--etcd-servers", f"http://127.0.0.1:{etcd_port}",
            "--bind-address", "127.0.0.1", "--secure-port", str(api_port), "--advertise-address", "127.0.0.1",
            "--cert-dir", str(workdir / "certs"),
            "--token-auth-file", str(workdir / "tokens.csv"),
            "--authorization-mode", "RBAC",
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", str(sa_pub),
            "--service-account-signing-key-file", str(sa_key),
            "--service-cluster-ip-range", "10.96.0.0/16",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--endpoint-reconciler-type", "none",
            "--v", "1",
        ])  # fmt: skip

        def readyz() -> bool:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            req = urllib.request.Request(url + "/readyz")
            req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
            with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
                return resp.status == 200

        _wait(readyz, "kube-apiserver /readyz", timeout, cp.procs, cp.logs)
        if controller_manager:
            spawn("kube-controller-manager", [
                str(bins / "kube-controller-manager"),
                "--kubeconfig", str(kubeconfig),
                "--bind-address", "127.0.0.1", "--secure-port", str(kcm_port),
                # deployment, replicaset: JI workers are Deployments (there is no scheduler or kubelet:
                # tests write pod status themselves).
                "--controllers", "garbagecollector,namespace,serviceaccount,serviceaccount-token,deployment,replicaset",
                "--service-account-private-key-file", str(sa_key),
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                *(["--kube-api-qps", str(controller_qps), "--kube-api-burst", str(2 * controller_qps)]
                  if controller_qps else []),
                "--v", "1",
            ])  # fmt: skip

            def default_sa() -> bool:
                cp.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
                return True

            _wait(default_sa, "the default ServiceAccount (kube-controller-manager)", timeout, cp.procs, cp.logs)
    except BaseException:
        cp.stop()
        raise
    return cp
