"""Credentials as a pod finds them: the in-cluster ServiceAccount (no apiserver needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.config import incluster_config

from sedna_operator.runtime.kubernetes.client import load_credentials


def test_in_cluster_token_is_sent_without_its_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kubernetes package stores the in-cluster token as "bearer <token>" (lower case): the
    operator sent "Bearer bearer <token>" and got 401 on its first real pod (the client strips
    "Bearer " only)."""
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("abc.def.ghi")
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    creds = load_credentials()
    assert creds.server == "https://10.96.0.1:443"
    assert creds.token == "abc.def.ghi" and creds.current_token() == "abc.def.ghi"
    assert creds.ca_path == str(ca)
