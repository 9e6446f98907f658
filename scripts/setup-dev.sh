#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, reusing caches on a warm one:
#   - Debian packages when missing: PostgreSQL (the market's database tier) and those of the
#     real-node tier (Docker engine, containerd, runc, CNI plugins, debootstrap, iptables,
#     conntrack);
#   - .venv with the project and every extra (torch included);
#   - helm + kubectl;
#   - kube-apiserver, etcd, kube-controller-manager, kubelet, kube-scheduler, kube-proxy and
#     CoreDNS built from their Go modules (cached under ~/.cache/sedna);
#   - the S3-compatible test server (scripts/s3server, gofakes3) for tests/s3.
# Set SEDNA_SKIP_TORCH=1 to leave torch out (its tests then fail, never skip), and
# SEDNA_SKIP_NODE=1 to leave out the real-node tier's packages and binaries (tests/node then
# fails with the reason: run `pytest -m "not node"` without it).
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: the market's database tier (tests/market runs the organizer suite on it).
# chromium + chromium-driver: the market web page's browser tests (tests/market/test_web_*.py).
packages=(postgresql chromium chromium-driver)
if [[ "${SEDNA_SKIP_NODE:-0}" != "1" ]]; then
  packages+=(docker.io containerd runc containernetworking-plugins debootstrap iptables conntrack iproute2 openssl)
fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
extras="operator,worker,market,dev"
[[ "${SEDNA_SKIP_TORCH:-0}" == "1" ]] || extras="$extras,torch,market-embed"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${extras}]"

bash scripts/install-kube-tools.sh
bash scripts/build-s3-server.sh
if [[ "${SEDNA_SKIP_NODE:-0}" == "1" ]]; then
  bash scripts/build-test-apiserver.sh
else
  bash scripts/build-test-apiserver.sh --node
fi
