"""The cluster's PKI, made with the openssl command line: a CA, the API server's serving
certificate (valid for every name and address pods and nodes use), its client certificate
towards kubelets, and the service-account signing key pair. Existing files are kept."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["ensure_pki", "apiserver_sans"]

_DAYS = "3650"


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def apiserver_sans(ips: list[str], service_ip: str, domain: str) -> str:
    """The subjectAltName value of the API server certificate."""
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{domain}", "localhost"]
    addresses = ["127.0.0.1", service_ip, *ips]
    unique = list(dict.fromkeys(addresses))
    return ",".join([*(f"DNS:{n}" for n in names), *(f"IP:{a}" for a in unique)])


def _leaf(pki: Path, name: str, subject: str, extensions: str) -> None:
    key, crt, csr, ext = (pki / f"{name}.{s}" for s in ("key", "crt", "csr", "ext"))
    if crt.exists() and key.exists():
        return
    _openssl("genrsa", "-out", str(key), "2048")
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    ext.write_text(extensions)
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
        "-CAcreateserial", "-days", _DAYS, "-sha256", "-extfile", str(ext), "-out", str(crt),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()


def ensure_pki(pki: Path, ips: list[str], service_ip: str, domain: str) -> None:
    """Create whatever of the PKI is missing under ``pki``."""
    pki.mkdir(parents=True, exist_ok=True)
    if not (pki / "ca.crt").exists():
        _openssl("genrsa", "-out", str(pki / "ca.key"), "2048")
        _openssl(
            "req", "-x509", "-new", "-key", str(pki / "ca.key"), "-subj", "/CN=sedna-node-ca",
            "-days", _DAYS, "-sha256", "-out", str(pki / "ca.crt"),
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
    _leaf(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={apiserver_sans(ips, service_ip, domain)}\n",
    )
    _leaf(
        pki,
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    if not (pki / "sa.key").exists():
        _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
        _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
